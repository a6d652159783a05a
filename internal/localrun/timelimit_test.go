package localrun_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/plan"
)

// TestTimeLimitsUnderSynctest runs a pipeline whose jobs never end on
// their own under a fake clock: the block's time limit stops its job
// after exactly 10 minutes, the pipeline's stops the rest after exactly
// one hour, and the block that depended on the first is canceled.
func TestTimeLimitsUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := block("A", nil, "wait")
		a.TimeLimit = plan.Duration(10 * time.Minute)
		g := &plan.Graph{TimeLimit: plan.Duration(time.Hour), Blocks: []*plan.Block{
			a,
			block("B", nil, "wait"),
			block("C", []string{"A"}, "pass"),
		}}
		start := time.Now()
		rep, _ := runInBubble(t, g, &scriptRunner{}, 4)
		want := map[string]string{"A": "stopped/timeout", "B": "stopped/timeout", "C": "canceled/dependency"}
		if got := results(rep); !equalMaps(got, want) {
			t.Errorf("block results = %v, want %v", got, want)
		}
		if rep.Result != ci.ResultStopped || rep.Reason != ci.ReasonTimeout {
			t.Errorf("pipeline = %s/%s, want stopped/timeout", rep.Result, rep.Reason)
		}
		if d := rep.Blocks[0].Done.Sub(start); d != 10*time.Minute {
			t.Errorf("A stopped after %v, want 10m", d)
		}
		if d := rep.Done.Sub(start); d != time.Hour {
			t.Errorf("the pipeline stopped after %v, want 1h", d)
		}
	})
}
