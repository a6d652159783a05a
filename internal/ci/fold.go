package ci

// Outcome is how one job or block ended, for folding into the result of
// what contains it.
type Outcome struct {
	Result Result
	Reason Reason
	// Ran reports whether it started at all.
	Ran bool
}

var resultRank = map[Result]int{ResultPassed: 0, ResultCanceled: 1, ResultStopped: 2, ResultFailed: 3}

// FoldBlock is a block's result from its jobs': any failure fails it
// (reason test unless one is given), else any stop stops it, else any
// cancel cancels it, else it passed.
func FoldBlock(jobs []Outcome) (Result, Reason) {
	res, reason := ResultPassed, ReasonNone
	for _, j := range jobs {
		if resultRank[j.Result] > resultRank[res] {
			res, reason = j.Result, j.Reason
		}
	}
	if res == ResultFailed && reason == ReasonNone {
		reason = ReasonTest
	}
	return res, reason
}

// FoldPipeline is a pipeline's result from its blocks' (docs/semaphore.md §7.4):
// failed beats stopped; when a stop was requested (stopReason not empty)
// the pipeline is stopped if anything ran and canceled if nothing did; a
// canceled block cancels it; otherwise it passed.
func FoldPipeline(blocks []Outcome, stopReason Reason) (Result, Reason) {
	failed, stopped, ran := false, false, false
	var stoppedBy Reason
	for _, b := range blocks {
		ran = ran || b.Ran
		switch b.Result {
		case ResultFailed:
			failed = true
		case ResultStopped:
			stopped = true
			stoppedBy = b.Reason
		}
	}
	switch {
	case failed:
		return ResultFailed, ReasonTest
	case stopped:
		return ResultStopped, stoppedBy
	case stopReason != ReasonNone:
		if ran {
			return ResultStopped, stopReason
		}
		return ResultCanceled, stopReason
	}
	for _, b := range blocks {
		if b.Result == ResultCanceled {
			return ResultCanceled, b.Reason
		}
	}
	return ResultPassed, ReasonNone
}
