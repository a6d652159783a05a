package logstore_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/logstore"
)

// noShared is a Shared that holds nothing.
type noShared struct{}

func (noShared) Commit(context.Context, string, int, []byte) (bool, logstore.Head, error) {
	return true, logstore.Head{Exists: true}, nil
}
func (noShared) CommitLast(context.Context, string, int, []byte) (bool, logstore.Head, error) {
	return true, logstore.Head{Exists: true, Sealed: true}, nil
}
func (noShared) Seal(_ context.Context, _ string, n int) (logstore.Head, error) {
	return logstore.Head{Exists: true, Next: n, Sealed: true}, nil
}
func (noShared) Fetch(context.Context, string, int) (io.ReadCloser, logstore.Head, error) {
	return nil, logstore.Head{}, nil
}
func (noShared) Archive(context.Context, string, io.Reader) error { return nil }
func (noShared) Delete(context.Context, string) error             { return nil }

// TestReplicasLeftByACrashAreRemoved: a replica no process holds is
// removed when the next one opens; one in use stays; Close removes its
// own.
func TestReplicasLeftByACrashAreRemoved(t *testing.T) {
	parent := t.TempDir()
	stale := filepath.Join(parent, "replica-crashed")
	if err := os.MkdirAll(filepath.Join(stale, "job"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, ".owner"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := logstore.OpenReplica(parent, noShared{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("the crashed replica is still there: %v", err)
	}
	b, err := logstore.OpenReplica(parent, noShared{})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(parent)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 || !strings.HasPrefix(names[0], "replica-") || !strings.HasPrefix(names[1], "replica-") {
		t.Fatalf("replicas: %v, want two (a's survived b's start)", names)
	}
	a.Close()
	b.Close()
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("left after Close: %v", entries)
	}
}

// TestReplicaKeepsOnlyLogsInUse: sealed logs leave the replica when they
// leave the store's cache of jobs.
func TestReplicaKeepsOnlyLogsInUse(t *testing.T) {
	parent := t.TempDir()
	s, err := logstore.OpenReplica(parent, noShared{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 300 {
		id := fmt.Sprintf("job-%d", i)
		if err := s.Append(t.Context(), id, logstore.Chunk{Seq: 0}); err != nil {
			t.Fatal(err)
		}
		if err := s.Seal(id); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Fatalf("replicas: %v", entries)
	}
	jobs, _ := os.ReadDir(filepath.Join(parent, entries[0].Name()))
	if len(jobs) > 260 {
		t.Fatalf("the replica holds %d logs after 300 were sealed; want at most the cache's 256 (+ the owner file)", len(jobs))
	}
}
