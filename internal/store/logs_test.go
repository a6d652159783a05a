package store

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testSharedLogs(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	if _, err := db.GetLogHead(ctx, "job-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("head of a new log: %v, want ErrNotFound", err)
	}
	// Servers race for each seq: exactly one chunk is accepted per seq.
	// Chunk 1 is small: kept in its row, not an object.
	for seq := range 3 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for server := range 4 {
			wg.Go(func() {
				c := LogChunk{Seq: seq, BlobKey: fmt.Sprintf("k%d-%d", seq, server)}
				if seq == 1 {
					c = LogChunk{Seq: seq, Data: fmt.Appendf(nil, "inline %d", server)}
				}
				_, ok, err := db.AcceptLogChunk(ctx, "job-1", c)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("seq %d accepted %d times, want once", seq, won)
		}
	}
	h, ok, err := db.AcceptLogChunk(ctx, "job-1", LogChunk{Seq: 5, BlobKey: "gap"})
	if err != nil || ok || h.Next != 3 {
		t.Fatalf("a chunk past the next: %+v %v %v; want refused with Next 3", h, ok, err)
	}
	chunks, err := db.LogChunks(ctx, "job-1", 1)
	if err != nil || len(chunks) != 2 || chunks[0].Seq != 1 || chunks[1].Seq != 2 {
		t.Fatalf("LogChunks from 1 = %+v, %v", chunks, err)
	}
	if c := chunks[0]; c.BlobKey != "" || !strings.HasPrefix(string(c.Data), "inline ") {
		t.Fatalf("the small chunk = %+v, want its data and no object", c)
	}
	if c := chunks[1]; !strings.HasPrefix(c.BlobKey, "k2-") || c.Data != nil {
		t.Fatalf("chunk 2 = %+v, want its object and no data", c)
	}
	// Sealing at a stale count fails; at the right one it holds, and
	// nothing is accepted after it.
	if h, err := db.SealLog(ctx, "job-1", 2); err != nil || h.Sealed || h.Next != 3 {
		t.Fatalf("seal at a stale count: %+v %v", h, err)
	}
	if h, err := db.SealLog(ctx, "job-1", 3); err != nil || !h.Sealed {
		t.Fatalf("seal: %+v %v", h, err)
	}
	if h, ok, err := db.AcceptLogChunk(ctx, "job-1", LogChunk{Seq: 3, BlobKey: "late"}); err != nil || ok || !h.Sealed {
		t.Fatalf("a chunk after the seal: %+v %v %v", h, ok, err)
	}
	h, old, err := db.ArchiveLog(ctx, "job-1", "archive-1")
	if err != nil || h.ArchiveKey != "archive-1" || len(old) != 2 || old[0].Seq != 0 || old[1].Seq != 2 {
		t.Fatalf("archive: %+v %v %v", h, old, err)
	}
	if h, old, err := db.ArchiveLog(ctx, "job-1", "archive-2"); err != nil || h.ArchiveKey != "archive-1" || len(old) != 0 {
		t.Fatalf("second archive: %+v %v %v; want the first kept", h, old, err)
	}
	if _, _, err := db.ArchiveLog(ctx, "job-2", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("archive of an unknown log: %v", err)
	}
	keys, err := db.DeleteLog(ctx, "job-1")
	if err != nil || len(keys) != 1 || keys[0] != "archive-1" {
		t.Fatalf("delete: %v %v", keys, err)
	}
	if _, err := db.GetLogHead(ctx, "job-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("head after delete: %v", err)
	}
}

func testMarkAgentLost(t *testing.T, e *testEnv) {
	db := e.open(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := &ci.Agent{ID: "a1", Name: "a1", Type: "t", Slots: 1, State: ci.AgentConnected, LastSeen: now.Add(-time.Minute), CreatedAt: now}
	write(t, db, func(tx *Tx) error { return tx.UpsertAgent(a) })
	var wg sync.WaitGroup
	var mu sync.Mutex
	lost := 0
	for range 4 {
		wg.Go(func() {
			var ok bool
			err := db.Tx(t.Context(), func(tx *Tx) (err error) {
				ok, err = tx.MarkAgentLost("a1", now.Add(-time.Second))
				return err
			})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				lost++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if lost != 1 {
		t.Fatalf("agent declared lost %d times, want once", lost)
	}
}

// testLastLogChunk: a last chunk is accepted and the log sealed after it
// in one step, whether it is the first chunk or a later one; one out of
// order, or after the seal, is refused and changes nothing.
func testLastLogChunk(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	// A whole log in one chunk.
	if h, ok, err := db.AcceptLastLogChunk(ctx, "one", LogChunk{Seq: 0, Data: []byte("all")}); err != nil || !ok || !h.Sealed || h.Next != 1 {
		t.Fatalf("the only chunk, last: %+v %v %v", h, ok, err)
	}
	if h, err := db.GetLogHead(ctx, "one"); err != nil || !h.Sealed || h.Next != 1 {
		t.Fatalf("head after the only chunk: %+v %v", h, err)
	}
	// A later chunk: refused out of order (the log stays open), accepted
	// and sealed in order, refused after.
	if _, ok, err := db.AcceptLogChunk(ctx, "two", LogChunk{Seq: 0, Data: []byte("first")}); err != nil || !ok {
		t.Fatalf("chunk 0: %v %v", ok, err)
	}
	if h, ok, err := db.AcceptLastLogChunk(ctx, "two", LogChunk{Seq: 2, Data: []byte("gap")}); err != nil || ok || h.Sealed || h.Next != 1 {
		t.Fatalf("a last chunk past the next: %+v %v %v; want refused, open, Next 1", h, ok, err)
	}
	if h, ok, err := db.AcceptLastLogChunk(ctx, "two", LogChunk{Seq: 1, Data: []byte("last")}); err != nil || !ok || !h.Sealed || h.Next != 2 {
		t.Fatalf("the last chunk: %+v %v %v", h, ok, err)
	}
	if h, ok, err := db.AcceptLastLogChunk(ctx, "two", LogChunk{Seq: 1, Data: []byte("last")}); err != nil || ok || !h.Sealed || h.Next != 2 {
		t.Fatalf("the last chunk again: %+v %v %v; want refused, sealed at 2", h, ok, err)
	}
	chunks, err := db.LogChunks(ctx, "two", 0)
	if err != nil || len(chunks) != 2 || string(chunks[1].Data) != "last" {
		t.Fatalf("chunks = %+v, %v", chunks, err)
	}
}
