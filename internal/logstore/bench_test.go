package logstore_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/logstore"
)

// Run with:
//
//	go test -run '^$' -bench . -benchtime 5x ./internal/logstore/

const (
	seqLines  = 1_000_000
	chunkSize = 64 << 10
)

// seqOutput is what `seq 1000000` prints.
func seqOutput() []byte {
	var b []byte
	for i := 1; i <= seqLines; i++ {
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, '\n')
	}
	return b
}

// seqChunks cuts raw into 64 KiB chunks as an agent sends them (lines
// split across chunks), inside one command of one job.
func seqChunks(raw []byte) [][]ci.Event {
	var chunks [][]ci.Event
	for off := 0; off < len(raw); off += chunkSize {
		end := min(off+chunkSize, len(raw))
		evs := []ci.Event{output(off/chunkSize, string(raw[off:end]))}
		if off == 0 {
			evs = append([]ci.Event{{Kind: ci.EventJobStarted, Timestamp: ts(0)}, started(0, "seq 1000000")}, evs...)
		}
		if end == len(raw) {
			evs = append(evs, finished(9, "seq 1000000", 0, 0), ci.Event{Kind: ci.EventJobFinished, Timestamp: ts(9), Result: ci.ResultPassed})
		}
		chunks = append(chunks, evs)
	}
	return chunks
}

func ingest(tb testing.TB, s *logstore.Store, job string, chunks [][]ci.Event) {
	tb.Helper()
	for i, evs := range chunks {
		if err := s.Append(tb.Context(), job, logstore.Chunk{Seq: i, Events: evs}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.Seal(job); err != nil {
		tb.Fatal(err)
	}
}

func BenchmarkIngest1M(b *testing.B) {
	raw := seqOutput()
	chunks := seqChunks(raw)
	b.Run("logstore", func(b *testing.B) {
		s, err := logstore.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		b.SetBytes(int64(len(raw)))
		var info logstore.Info
		for i := 0; b.Loop(); i++ {
			job := fmt.Sprintf("job-%d", i)
			ingest(b, s, job, chunks)
			if info, err = s.Info(job); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(info.StoredBytes)/float64(len(raw)), "stored/raw")
	})
	// The baseline: the same bytes to a plain file, fsync per chunk.
	b.Run("baseline-file-fsync", func(b *testing.B) {
		dir := b.TempDir()
		b.SetBytes(int64(len(raw)))
		for i := 0; b.Loop(); i++ {
			f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
			if err != nil {
				b.Fatal(err)
			}
			for off := 0; off < len(raw); off += chunkSize {
				if _, err := f.Write(raw[off:min(off+chunkSize, len(raw))]); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			f.Close()
		}
	})
	// Bare bash producing the output, for scale.
	b.Run("baseline-bash-seq", func(b *testing.B) {
		if _, err := exec.LookPath("bash"); err != nil {
			b.Skip("no bash")
		}
		out := filepath.Join(b.TempDir(), "out")
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if err := exec.Command("bash", "-c", "seq 1000000 > "+out).Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// largeLog stores the 1,000,000-line log once and returns its store and
// directory.
func largeLog(tb testing.TB) (*logstore.Store, string) {
	tb.Helper()
	dir := tb.TempDir()
	s, err := logstore.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	ingest(tb, s, "big", seqChunks(seqOutput()))
	return s, dir
}

// heapGrowth runs op and returns how much the live heap grew while it ran
// (without a collection in between, so garbage counts too) and how much op
// allocated in all.
func heapGrowth(op func()) (growth, allocated uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	op()
	runtime.ReadMemStats(&after)
	return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc), after.TotalAlloc - before.TotalAlloc
}

// benchRead times read on the 1,000,000-line log and reports the largest
// heap growth one read caused (garbage included: no collection runs
// during a read). cold reads use a fresh store each time, as a newly
// started server would.
func benchRead(b *testing.B, read func(s *logstore.Store) ([]logstore.Line, error), cold bool) {
	s, dir := largeLog(b)
	var maxGrowth uint64
	var before, after runtime.MemStats
	for b.Loop() {
		b.StopTimer()
		st := s
		if cold {
			var err error
			if st, err = logstore.Open(dir); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		lines, err := read(st)
		b.StopTimer()
		runtime.ReadMemStats(&after)
		if err != nil || len(lines) != 1000 {
			b.Fatalf("got %d lines, %v", len(lines), err)
		}
		maxGrowth = max(maxGrowth, after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc))
		if cold {
			st.Close()
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(maxGrowth), "max-heap-growth-B")
}

func BenchmarkTail1000(b *testing.B) {
	tail := func(s *logstore.Store) ([]logstore.Line, error) {
		lines, _, err := s.Tail(b.Context(), "big", 1000)
		return lines, err
	}
	b.Run("warm", func(b *testing.B) { benchRead(b, tail, false) })
	b.Run("cold", func(b *testing.B) { benchRead(b, tail, true) })
}

func BenchmarkLinesMiddle1000(b *testing.B) {
	middle := func(s *logstore.Store) ([]logstore.Line, error) {
		lines, _, err := s.Lines(b.Context(), "big", 500_000, 501_000)
		return lines, err
	}
	b.Run("warm", func(b *testing.B) { benchRead(b, middle, false) })
	b.Run("cold", func(b *testing.B) { benchRead(b, middle, true) })
}

// TestLargeLog checks the 1,000,000-line log: contents at both ends and in
// the middle, Tail latency, and that serving it does not load it.
func TestLargeLog(t *testing.T) {
	if testing.Short() {
		t.Skip("stores a 1,000,000-line log")
	}
	s, dir := largeLog(t)
	ctx := t.Context()
	info, err := s.Info("big")
	if err != nil {
		t.Fatal(err)
	}
	raw := int64(len(seqOutput()))
	if want := (logstore.Info{StoredBytes: info.StoredBytes, RawBytes: raw, Lines: seqLines + 1, Chunks: int(raw+chunkSize-1) / chunkSize, Sealed: true}); info != want {
		t.Errorf("Info = %+v, want %+v", info, want)
	}
	if info.StoredBytes > raw {
		t.Errorf("stored %d bytes for %d raw bytes, want at most 1x", info.StoredBytes, raw)
	}
	check := func(lines []logstore.Line, first int) {
		t.Helper()
		for i, l := range lines {
			if want := strconv.Itoa(first + i); l.Text != want || l.N != first+i || l.Cmd != 0 || l.Kind != logstore.KindOut {
				t.Fatalf("line %d = %+v, want text %q", first+i, l, want)
			}
		}
	}

	// In a fresh store, as a newly started server would serve it.
	cold, err := logstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cold.Close()
	for _, st := range []*logstore.Store{cold, s} {
		var lines []logstore.Line
		var total int
		start := time.Now()
		growth, alloc := heapGrowth(func() { lines, total, err = st.Tail(ctx, "big", 1000) })
		elapsed := time.Since(start)
		if err != nil || total != seqLines+1 || len(lines) != 1000 {
			t.Fatalf("Tail: %d of %d lines, %v", len(lines), total, err)
		}
		check(lines, seqLines-999)
		t.Logf("Tail(1000): %v, heap growth %d B, allocated %d B", elapsed, growth, alloc)
		if !raceEnabled && elapsed > 50*time.Millisecond {
			t.Errorf("Tail(1000) took %v, want < 50ms", elapsed)
		}
		if growth > 50<<20 {
			t.Errorf("Tail(1000) grew the heap by %d bytes, want < 50 MB", growth)
		}

		growth, alloc = heapGrowth(func() { lines, _, err = st.Lines(ctx, "big", 500_000, 501_000) })
		if err != nil {
			t.Fatal(err)
		}
		check(lines, 500_000)
		t.Logf("Lines(500000, 501000): heap growth %d B, allocated %d B", growth, alloc)
		if growth > 50<<20 {
			t.Errorf("Lines grew the heap by %d bytes, want < 50 MB", growth)
		}
	}
	lines, _, err := s.Lines(ctx, "big", 0, 3)
	if err != nil || len(lines) != 3 || lines[0].Text != "$ seq 1000000" || lines[1].Text != "1" || lines[2].Text != "2" {
		t.Errorf("first lines = %+v, %v", lines, err)
	}
	cmds, err := s.Commands(ctx, "big")
	if err != nil || len(cmds) != 1 || cmds[0].FirstLine != 0 || cmds[0].LastLine != seqLines || *cmds[0].ExitCode != 0 {
		t.Errorf("Commands = %+v, %v", cmds, err)
	}
}
