package logstore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/batonci/baton/internal/ci"
)

// TestReaderRejoinsIndex checks that a reader which rebuilt a chunk from
// the data file (its index record not yet written) trusts the index again
// once the record appears, instead of decoding every later chunk.
func TestReaderRejoinsIndex(t *testing.T) {
	root := t.TempDir()
	w, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	add := func(seq int) {
		t.Helper()
		ev := ci.Event{Kind: ci.EventCmdStarted, Directive: "step"}
		if err := w.Append(t.Context(), "job", Chunk{Seq: seq, Events: []ci.Event{ev}}); err != nil {
			t.Fatal(err)
		}
	}
	idxN := func() (int, int) {
		t.Helper()
		if _, err := r.Info("job"); err != nil {
			t.Fatal(err)
		}
		j := r.jobs["job"]
		j.mu.RLock()
		defer j.mu.RUnlock()
		return j.st.idxN, j.st.total()
	}
	add(0)
	add(1)
	index := filepath.Join(root, "job", indexName)
	saved, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(index, recordSize); err != nil {
		t.Fatal(err)
	}
	if n, total := idxN(); n != 1 || total != 2 {
		t.Fatalf("reader: %d of %d records from the index, want 1 of 2", n, total)
	}
	if err := os.WriteFile(index, saved, 0o644); err != nil {
		t.Fatal(err)
	}
	add(2)
	if n, total := idxN(); n != 3 || total != 3 {
		t.Fatalf("reader: %d of %d records from the index, want 3 of 3", n, total)
	}
}

// FuzzDecode feeds arbitrary bytes to the decoders of stored data: they
// may fail, never panic.
func FuzzDecode(f *testing.F) {
	code := 3
	at := ci.Timestamp{}
	f.Add(appendEvents(nil, []ci.Event{
		{Kind: ci.EventCmdStarted, Directive: "make\nmore"},
		{Kind: ci.EventCmdOutput, Output: "a\r\nb"},
		{Kind: ci.EventCmdFinished, ExitCode: &code, StartedAt: &at, FinishedAt: &at},
		{Kind: "custom", Result: ci.ResultPassed, Reason: ci.ReasonTest, Block: "b", Job: "j"},
	}))
	f.Add(appendCmdRec(appendCmdRec(nil, &cmdRec{index: 0, directive: []byte("x")}), &cmdRec{finish: true, exitCode: &code, finishedAt: &at}))
	f.Fuzz(func(t *testing.T, b []byte) {
		forEachEvent(b, func(*eventView) {})
		advance(initialState, b, nil)
		applyCmdRecs(nil, b)
		parseRecord(b)
		parseBlockHeader(b)
		rd := newRenderer(initialState, 0, 10)
		forEachEvent(b, rd.event)
	})
}
