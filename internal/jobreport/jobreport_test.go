package jobreport_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobreport"
	"github.com/batonci/baton/internal/testenv/probe"
)

func TestWriteRead(t *testing.T) {
	blobs, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	type report struct{ Tests []string }
	size, err := jobreport.Write(t.Context(), blobs, "r/1", report{Tests: []string{"a", "b"}})
	if err != nil || size <= 0 {
		t.Fatalf("write: %d, %v", size, err)
	}
	var got report
	if err := jobreport.Read(t.Context(), blobs, "r/1", &got); err != nil || !slices.Equal(got.Tests, []string{"a", "b"}) {
		t.Fatalf("read: %+v, %v", got, err)
	}
	if err := jobreport.Read(t.Context(), blobs, "r/missing", &got); err == nil {
		t.Error("reading a missing report succeeded")
	}
}

// TestPending: only ended pipelines are merged, each once however often
// it is added before its merge, and Run returns when ctx ends.
func TestPending(t *testing.T) {
	q := jobreport.NewPending()
	q.Add(&ci.Pipeline{ID: "running", State: ci.StateRunning})
	q.Add(&ci.Pipeline{ID: "p1", State: ci.StateDone})
	q.Add(&ci.Pipeline{ID: "p1", State: ci.StateDone})
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	var merged []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx, func(_ context.Context, id string) {
			mu.Lock()
			merged = append(merged, id)
			mu.Unlock()
		})
	}()
	q.Add(&ci.Pipeline{ID: "p2", State: ci.StateDone})
	probe.Eventually(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(merged) < 2 {
			return fmt.Errorf("merged %v so far", merged)
		}
		return nil
	})
	cancel()
	<-done
	slices.Sort(merged)
	if !slices.Equal(merged, []string{"p1", "p2"}) {
		t.Errorf("merged %v, want p1 and p2 once each", merged)
	}
}

func TestLocks(t *testing.T) {
	var l jobreport.Locks
	unlock := l.Lock("job-1")
	got := make(chan struct{})
	go func() { l.Lock("job-1")(); close(got) }()
	select {
	case <-got:
		t.Fatal("a second publish of the job did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	<-got
}
