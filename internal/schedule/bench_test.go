package schedule_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/store"
)

// BenchmarkThousandDueTwoServers: 1,000 schedules due in the same minute,
// two servers (each its own store connections, engine and repository
// cache) on one PostgreSQL database tick at the same moment. Each
// iteration is one minute: every schedule must start exactly one workflow,
// and the metric s-to-last-start is how long after the minute the last
// workflow was created (the goal: under 5 s); smaller-server-share is the
// share of the schedules the server that ran fewer ran (0.5: an even
// split). The baseline,
// s-baseline-direct, is the time the two engines take to start as many
// workflows directly, in the same run.
//
//	go test -run '^$' -bench ThousandDueTwoServers -benchtime 3x ./internal/schedule/
func BenchmarkThousandDueTwoServers(b *testing.B) {
	const n = 1000
	dsn := enginetest.NewDSN(b, store.Postgres)
	a, c := newServer(b, dsn), newServer(b, dsn)
	repo := enginetest.NewRepo(b, map[string]string{".semaphore/semaphore.yml": nightly})
	proj := enginetest.CreateProject(b, a.db, "app", repo.Dir)
	first := time.Now().Truncate(time.Minute).Add(time.Minute)
	err := a.db.Tx(b.Context(), func(tx *store.Tx) error {
		for i := range n {
			s := &ci.Schedule{ProjectID: proj.ID, Name: fmt.Sprintf("s%04d", i), Cron: "* * * * *", Timezone: "UTC",
				Branch: "main", NextRun: first, Parameters: []ci.Parameter{{Name: "ENV", DefaultValue: "bench"}}}
			if err := tx.CreateSchedule(s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	// The baseline: the same number of workflows started directly by the
	// two engines, 16 at a time each (as many as the services' workers),
	// on the branch's head resolved once.
	sha, err := a.eng.BranchHead(b.Context(), proj, "main")
	if err != nil {
		b.Fatal(err)
	}
	baseStart := time.Now()
	var bwg sync.WaitGroup
	for _, s := range []*server{a, c} {
		for w := range 16 {
			bwg.Go(func() {
				for i := w; i < n/2; i += 16 {
					_, err := s.eng.Trigger(b.Context(), engine.TriggerRequest{Project: proj, Trigger: ci.TriggerManual,
						RefType: "branch", Branch: "main", SHA: sha, Params: map[string]string{"ENV": "bench"}})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
	}
	bwg.Wait()
	baseline := time.Since(baseStart)
	var worst time.Duration
	share := 0.5 // the smaller server's share of the schedules, at worst
	minute := first
	total := n
	for b.Loop() {
		// The clock the services see says it is the minute; the
		// workflows' creation times are real.
		start := time.Now()
		var wg sync.WaitGroup
		var started [2]int
		for i, s := range []*server{a, c} {
			wg.Go(func() {
				k, err := s.svc.Tick(context.WithoutCancel(b.Context()), minute.Add(time.Millisecond))
				if err != nil {
					b.Error(err)
				}
				started[i] = k
			})
		}
		wg.Wait()
		share = min(share, float64(min(started[0], started[1]))/n)
		ws, err := a.db.ListWorkflows(b.Context(), proj.ID, store.WorkflowFilter{})
		if err != nil {
			b.Fatal(err)
		}
		total += n
		if len(ws) != total {
			b.Fatalf("minute %s: %d workflows in all, want %d", minute, len(ws), total)
		}
		count := map[string]int{}
		var last time.Time
		for _, w := range ws[:n] {
			count[w.Schedule]++
			if w.CreatedAt.After(last) {
				last = w.CreatedAt
			}
		}
		if len(count) != n {
			b.Fatalf("minute %s: the newest %d workflows are of %d schedules, want each once", minute, n, len(count))
		}
		worst = max(worst, last.Sub(start))
		minute = minute.Add(time.Minute)
	}
	b.ReportMetric(worst.Seconds(), "s-to-last-start")
	b.ReportMetric(baseline.Seconds(), "s-baseline-direct")
	b.ReportMetric(float64(n), "schedules/op")
	b.ReportMetric(share, "smaller-server-share")
}
