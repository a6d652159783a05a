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

// NewsCount is how many "cancel" notifications (and losses of them) the
// dispatcher has taken: each makes the agents' kept looks void.
func (d *Dispatcher) NewsCount() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.newsCount
}
