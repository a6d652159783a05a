package dispatch

// HoldReports takes every turn to store log chunks and results (see
// Config.Reports), as a flood of them would, until release.
func (d *Dispatcher) HoldReports() (release func()) {
	for range cap(d.reports) {
		d.reports <- struct{}{}
	}
	return func() {
		for range cap(d.reports) {
			<-d.reports
		}
	}
}
