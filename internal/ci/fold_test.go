package ci

import "testing"

func TestFoldBlock(t *testing.T) {
	tests := []struct {
		name   string
		jobs   []Outcome
		result Result
		reason Reason
	}{
		{"no jobs pass", nil, ResultPassed, ReasonNone},
		{"all passed", []Outcome{{Result: ResultPassed}, {Result: ResultPassed}}, ResultPassed, ReasonNone},
		{"failure beats stop", []Outcome{{Result: ResultStopped, Reason: ReasonUser}, {Result: ResultFailed}}, ResultFailed, ReasonTest},
		{"stop beats cancel", []Outcome{{Result: ResultCanceled, Reason: ReasonFastFailing}, {Result: ResultStopped, Reason: ReasonTimeout}}, ResultStopped, ReasonTimeout},
		{"cancel beats pass", []Outcome{{Result: ResultPassed}, {Result: ResultCanceled, Reason: ReasonDependency}}, ResultCanceled, ReasonDependency},
		{"failure keeps its reason", []Outcome{{Result: ResultFailed, Reason: ReasonAgentLost}}, ResultFailed, ReasonAgentLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, reason := FoldBlock(tt.jobs)
			if res != tt.result || reason != tt.reason {
				t.Errorf("FoldBlock = %s/%s, want %s/%s", res, reason, tt.result, tt.reason)
			}
		})
	}
}

func TestFoldPipeline(t *testing.T) {
	tests := []struct {
		name   string
		blocks []Outcome
		stop   Reason
		result Result
		reason Reason
	}{
		{"passed", []Outcome{{Result: ResultPassed, Ran: true}}, "", ResultPassed, ReasonNone},
		{"skipped blocks pass", []Outcome{{Result: ResultPassed, Reason: ReasonSkipped}}, "", ResultPassed, ReasonNone},
		{"failure wins", []Outcome{{Result: ResultStopped, Reason: ReasonUser, Ran: true}, {Result: ResultFailed, Ran: true}}, ReasonUser, ResultFailed, ReasonTest},
		{"stopped block", []Outcome{{Result: ResultStopped, Reason: ReasonTimeout, Ran: true}}, "", ResultStopped, ReasonTimeout},
		{"stop after something ran", []Outcome{{Result: ResultPassed, Ran: true}, {Result: ResultCanceled, Reason: ReasonUser}}, ReasonUser, ResultStopped, ReasonUser},
		{"stop before anything ran", []Outcome{{Result: ResultCanceled, Reason: ReasonStrategy}}, ReasonStrategy, ResultCanceled, ReasonStrategy},
		{"a canceled block cancels", []Outcome{{Result: ResultPassed, Ran: true}, {Result: ResultCanceled, Reason: ReasonDependency}}, "", ResultCanceled, ReasonDependency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, reason := FoldPipeline(tt.blocks, tt.stop)
			if res != tt.result || reason != tt.reason {
				t.Errorf("FoldPipeline = %s/%s, want %s/%s", res, reason, tt.result, tt.reason)
			}
		})
	}
}
