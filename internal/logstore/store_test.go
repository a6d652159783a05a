package logstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/logstore"
)

var cmpTime = cmp.Comparer(func(a, b ci.Timestamp) bool { return a.Time().Equal(b.Time()) })

var t0 = time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)

func ts(sec int) ci.Timestamp { return ci.Timestamp(t0.Add(time.Duration(sec) * time.Second)) }

func tsp(sec int) *ci.Timestamp { t := ts(sec); return &t }

func intp(v int) *int { return &v }

func started(at int, directive string) ci.Event {
	return ci.Event{Kind: ci.EventCmdStarted, Timestamp: ts(at), Directive: directive}
}

func output(at int, text string) ci.Event {
	return ci.Event{Kind: ci.EventCmdOutput, Timestamp: ts(at), Output: text}
}

func finished(at int, directive string, code, start int) ci.Event {
	return ci.Event{Kind: ci.EventCmdFinished, Timestamp: ts(at), Directive: directive,
		ExitCode: intp(code), StartedAt: tsp(start), FinishedAt: tsp(at)}
}

func openStore(t *testing.T, dir string) *logstore.Store {
	t.Helper()
	s, err := logstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendAll(t *testing.T, s *logstore.Store, job string, chunks ...[]ci.Event) {
	t.Helper()
	next, err := s.Next(job)
	if err != nil {
		t.Fatal(err)
	}
	for i, evs := range chunks {
		if err := s.Append(t.Context(), job, logstore.Chunk{Seq: next + i, Events: evs}); err != nil {
			t.Fatalf("append chunk %d: %v", next+i, err)
		}
	}
}

func allEvents(chunks [][]ci.Event) []ci.Event {
	var all []ci.Event
	for _, c := range chunks {
		all = append(all, c...)
	}
	return all
}

// sampleLog is a small job: two commands, output lines split across
// chunks, a failing command.
func sampleLog() [][]ci.Event {
	return [][]ci.Event{
		{
			{Kind: ci.EventJobStarted, Timestamp: ts(0)},
			started(1, "echo hello\necho world"),
			output(1, "hel"),
		},
		{
			output(2, "lo\nwor"),
		},
		{
			output(3, "ld\n"),
			finished(3, "echo hello\necho world", 0, 1),
			started(4, "make test"),
			output(5, "FAIL: TestX\n\x1b[31mred\x1b[0m\n"),
			finished(9, "make test", 2, 4),
			{Kind: ci.EventJobFinished, Timestamp: ts(9), Result: ci.ResultFailed, Reason: ci.ReasonTest, Block: "b", Job: "j"},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	chunks := sampleLog()
	chunks = append(chunks, []ci.Event{{Kind: "custom_kind", Timestamp: ci.Timestamp{}, Output: "x\xffy"}}, nil)
	appendAll(t, s, "job-1", chunks...)

	got, err := s.Events(t.Context(), "job-1", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(allEvents(chunks), got, cmpTime); diff != "" {
		t.Errorf("Events (-want +got):\n%s", diff)
	}
	got, err = s.Events(t.Context(), "job-1", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(chunks[1], got, cmpTime); diff != "" {
		t.Errorf("Events(1, 2) (-want +got):\n%s", diff)
	}

	info, err := s.Info("job-1")
	if err != nil {
		t.Fatal(err)
	}
	raw := 0
	for _, ev := range allEvents(chunks) {
		if ev.Kind == ci.EventCmdOutput {
			raw += len(ev.Output)
		}
	}
	want := logstore.Info{RawBytes: int64(raw), Lines: 6, Chunks: 5, StoredBytes: info.StoredBytes}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
	if info.StoredBytes <= 0 {
		t.Errorf("StoredBytes = %d, want > 0", info.StoredBytes)
	}

	// A second store on the same directory reads the same log.
	s2 := openStore(t, dir)
	got, err = s2.Events(t.Context(), "job-1", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(allEvents(chunks), got, cmpTime); diff != "" {
		t.Errorf("Events from a second store (-want +got):\n%s", diff)
	}
}

// TestSealAtCount: a log is sealed only at the count of chunks it holds;
// AppendAck acknowledges every chunk stored.
func TestSealAtCount(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx := t.Context()
	for i := range 2 {
		next, err := s.AppendAck(ctx, "j", logstore.Chunk{Seq: i, Events: []ci.Event{output(i, "x\n")}})
		if err != nil || next != i+1 {
			t.Fatalf("AppendAck seq %d = %d, %v", i, next, err)
		}
	}
	if next, err := s.AppendAck(ctx, "j", logstore.Chunk{Seq: 0}); err != nil || next != 2 {
		t.Fatalf("AppendAck of a stored seq = %d, %v; want 2", next, err)
	}
	var count *logstore.CountError
	for _, n := range []int{1, 3} {
		if err := s.SealAt("j", n); !errors.As(err, &count) || count.Have != 2 {
			t.Fatalf("SealAt(%d) of 2 chunks = %v, want CountError{2}", n, err)
		}
	}
	if info, _ := s.Info("j"); info.Sealed {
		t.Fatal("sealed by a refused SealAt")
	}
	if err := s.SealAt("j", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.SealAt("j", 2); err != nil {
		t.Fatalf("second SealAt: %v", err)
	}
	if info, _ := s.Info("j"); !info.Sealed || info.Chunks != 2 {
		t.Fatalf("info after SealAt: %+v", info)
	}
}

func TestAppendIdempotentAndGap(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx := t.Context()
	c0 := logstore.Chunk{Seq: 0, Events: []ci.Event{output(0, "a\n")}}
	c1 := logstore.Chunk{Seq: 1, Events: []ci.Event{output(1, "b\n")}}
	for _, c := range []logstore.Chunk{c0, c0, c1, c0, c1} {
		if err := s.Append(ctx, "j", c); err != nil {
			t.Fatalf("Append seq %d: %v", c.Seq, err)
		}
	}
	if next, err := s.Next("j"); err != nil || next != 2 {
		t.Errorf("Next = %d, %v; want 2", next, err)
	}
	err := s.Append(ctx, "j", logstore.Chunk{Seq: 5})
	var gap *logstore.GapError
	if !errors.As(err, &gap) || gap.Want != 2 {
		t.Errorf("Append seq 5 = %v, want GapError{Want: 2}", err)
	}
	if err := s.Append(ctx, "j", logstore.Chunk{Seq: -1}); err == nil {
		t.Error("Append seq -1 succeeded")
	}
	lines, total, err := s.Lines(ctx, "j", 0, -1)
	if err != nil || total != 2 || len(lines) != 2 || lines[0].Text != "a" || lines[1].Text != "b" {
		t.Errorf("Lines = %+v, %d, %v; want a, b", lines, total, err)
	}

	if err := s.Seal("j"); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal("j"); err != nil {
		t.Errorf("second Seal: %v", err)
	}
	if err := s.Append(ctx, "j", c1); err != nil {
		t.Errorf("re-Append after Seal: %v", err)
	}
	if err := s.Append(ctx, "j", logstore.Chunk{Seq: 2}); !errors.Is(err, logstore.ErrSealed) {
		t.Errorf("Append after Seal = %v, want ErrSealed", err)
	}
	if next, _ := s.Next("new-job"); next != 0 {
		t.Errorf("Next(new job) = %d, want 0", next)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Append(canceled, "k", c0); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with canceled ctx = %v", err)
	}
}

func TestConcurrentAppend(t *testing.T) {
	s := openStore(t, t.TempDir())
	const jobs, chunks = 16, 25
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, jobs*3)
	for j := range jobs {
		job := fmt.Sprintf("job-%d", j)
		wg.Go(func() {
			for i := range chunks {
				c := logstore.Chunk{Seq: i, Events: []ci.Event{output(i, fmt.Sprintf("%s line %d\n", job, i))}}
				if err := s.Append(ctx, job, c); err != nil {
					errs <- err
					return
				}
			}
			errs <- s.Seal(job)
		})
		// Retries of the same chunks race with the first attempts.
		wg.Go(func() {
			for i := range chunks {
				c := logstore.Chunk{Seq: i, Events: []ci.Event{output(i, fmt.Sprintf("%s line %d\n", job, i))}}
				var gap *logstore.GapError
				if err := s.Append(ctx, job, c); err != nil && !errors.As(err, &gap) && !errors.Is(err, logstore.ErrSealed) {
					errs <- err
					return
				}
			}
		})
		// A follower reads everything until the seal.
		wg.Go(func() {
			ch, err := s.Follow(ctx, job, 0)
			if err != nil {
				errs <- err
				return
			}
			n := 0
			for c := range ch {
				if c.Seq != n {
					errs <- fmt.Errorf("%s: follower got seq %d, want %d", job, c.Seq, n)
				}
				n++
			}
			if n != chunks {
				errs <- fmt.Errorf("%s: follower got %d chunks, want %d", job, n, chunks)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for j := range jobs {
		job := fmt.Sprintf("job-%d", j)
		lines, total, err := s.Lines(ctx, job, 0, -1)
		if err != nil || total != chunks {
			t.Fatalf("%s: Lines total %d, %v", job, total, err)
		}
		for i, l := range lines {
			if want := fmt.Sprintf("%s line %d", job, i); l.Text != want {
				t.Errorf("%s line %d = %q, want %q", job, i, l.Text, want)
			}
		}
	}
}

func TestLines(t *testing.T) {
	L := func(n int, text string, cmd int, kind string, at int) logstore.Line {
		return logstore.Line{N: n, Text: text, Cmd: cmd, Kind: kind, At: ts(at)}
	}
	tests := []struct {
		name   string
		chunks [][]ci.Event
		want   []logstore.Line
	}{
		{
			name:   "sample",
			chunks: sampleLog(),
			want: []logstore.Line{
				L(0, "$ echo hello", 0, "cmd", 1),
				L(1, "hello", 0, "out", 1),
				L(2, "world", 0, "out", 2),
				L(3, "$ make test", 1, "cmd", 4),
				L(4, "FAIL: TestX", 1, "out", 5),
				L(5, "\x1b[31mred\x1b[0m", 1, "out", 5),
			},
		},
		{
			name: "output before the first command and an unterminated last line",
			chunks: [][]ci.Event{
				{output(0, "pre\n\n")},
				{started(1, "run"), output(2, "a\nb")},
			},
			want: []logstore.Line{
				L(0, "pre", -1, "out", 0),
				L(1, "", -1, "out", 0),
				L(2, "$ run", 0, "cmd", 1),
				L(3, "a", 0, "out", 2),
				L(4, "b", 0, "out", 2),
			},
		},
		{
			name: "a line spanning several chunks",
			chunks: [][]ci.Event{
				{started(0, "x"), output(1, "a")},
				{output(2, "b")},
				{},
				{output(3, "c")},
				{output(4, "d\ne\n")},
			},
			want: []logstore.Line{
				L(0, "$ x", 0, "cmd", 0),
				L(1, "abcd", 0, "out", 1),
				L(2, "e", 0, "out", 4),
			},
		},
		{
			name: "carriage returns",
			chunks: [][]ci.Event{
				{started(0, "dl"), output(1, "crlf\r\n10%\r20%\r")},
				{output(2, "30%\n"), output(2, "done\r")},
				{output(3, "\n\rleading\n"), output(3, "x\r\r\n")},
			},
			want: []logstore.Line{
				L(0, "$ dl", 0, "cmd", 0),
				L(1, "crlf", 0, "out", 1),
				L(2, "30%", 0, "out", 1),
				L(3, "done", 0, "out", 2),
				L(4, "leading", 0, "out", 3),
				L(5, "x", 0, "out", 3),
			},
		},
		{
			name: "finish and start end an open line",
			chunks: [][]ci.Event{
				{started(0, "a"), output(1, "no newline")},
				{finished(2, "a", 0, 0), started(3, "b"), output(4, "partial")},
				{started(5, "c\r\nmore")},
			},
			want: []logstore.Line{
				L(0, "$ a", 0, "cmd", 0),
				L(1, "no newline", 0, "out", 1),
				L(2, "$ b", 1, "cmd", 3),
				L(3, "partial", 1, "out", 4),
				L(4, "$ c", 2, "cmd", 5),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			appendAll(t, s, "job", tt.chunks...)
			checkLines(t, s, "job", tt.want)
		})
	}
}

// checkLines checks Lines over every range and Tail of every length
// against the whole rendering want.
func checkLines(t *testing.T, s *logstore.Store, job string, want []logstore.Line) {
	t.Helper()
	ctx := t.Context()
	got, total, err := s.Lines(ctx, job, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if total != len(want) {
		t.Errorf("total = %d, want %d", total, len(want))
	}
	if diff := cmp.Diff(want, got, cmpTime); diff != "" {
		t.Fatalf("Lines(0, -1) (-want +got):\n%s", diff)
	}
	if info, err := s.Info(job); err != nil || info.Lines != len(want) {
		t.Errorf("Info.Lines = %d, %v; want %d", info.Lines, err, len(want))
	}
	for from := 0; from <= len(want)+1; from++ {
		for to := from; to <= len(want)+1; to++ {
			got, _, err := s.Lines(ctx, job, from, to)
			if err != nil {
				t.Fatal(err)
			}
			w := want[min(from, len(want)):min(to, len(want))]
			if diff := cmp.Diff(w, got, cmpTime); diff != "" {
				t.Fatalf("Lines(%d, %d) (-want +got):\n%s", from, to, diff)
			}
		}
	}
	for n := 0; n <= len(want)+1; n++ {
		got, total, err := s.Tail(ctx, job, n)
		if err != nil || total != len(want) {
			t.Fatalf("Tail(%d): total %d, %v", n, total, err)
		}
		if diff := cmp.Diff(want[max(len(want)-n, 0):], got, cmpTime); diff != "" {
			t.Fatalf("Tail(%d) (-want +got):\n%s", n, diff)
		}
	}
}

// TestLinesChunkingInvariant stores one event stream cut into chunks in
// many random ways and cutting outputs at random places: the rendering
// must not depend on where the cuts fall.
func TestLinesChunkingInvariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "bc", "\n", "\n", "\r", "\r\n", "xyz"}
	var text strings.Builder
	for range 300 {
		text.WriteString(alphabet[rng.IntN(len(alphabet))])
	}
	stream := func(cuts int) [][]ci.Event {
		out := text.String()
		var evs []ci.Event
		evs = append(evs, started(0, "first"))
		for len(out) > 0 {
			n := min(1+rng.IntN(40), len(out))
			evs = append(evs, output(1, out[:n]))
			out = out[n:]
			if rng.IntN(20) == 0 {
				evs = append(evs, started(2, fmt.Sprintf("cmd %d", len(evs))))
			}
		}
		var chunks [][]ci.Event
		for len(evs) > 0 {
			n := min(rng.IntN(cuts)+1, len(evs))
			chunks = append(chunks, evs[:n])
			evs = evs[n:]
			if rng.IntN(10) == 0 {
				chunks = append(chunks, nil)
			}
		}
		return chunks
	}
	// The reference: the same stream in one chunk, with the same cuts of
	// output events (the rendering of one chunk does not use the index).
	dir := t.TempDir()
	s := openStore(t, dir)
	for i := range 20 {
		rng = rand.New(rand.NewPCG(uint64(i), 7))
		chunks := stream(1 + i%6)
		ref := fmt.Sprintf("ref-%d", i)
		appendAll(t, s, ref, allEvents(chunks))
		want, _, err := s.Lines(t.Context(), ref, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			want[i].At = ci.Timestamp{} // the cut decides which event a line starts in
		}
		job := fmt.Sprintf("job-%d", i)
		appendAll(t, s, job, chunks...)
		got, _, err := s.Lines(t.Context(), job, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			got[i].At = ci.Timestamp{}
		}
		if diff := cmp.Diff(want, got, cmpTime); diff != "" {
			t.Fatalf("%s (-one chunk +%d chunks):\n%s", job, len(chunks), diff)
		}
		for from := 0; from < len(want); from += 7 {
			got, _, err := s.Lines(t.Context(), job, from, from+5)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].At = ci.Timestamp{}
			}
			if diff := cmp.Diff(want[from:min(from+5, len(want))], got, cmpTime); diff != "" {
				t.Fatalf("%s Lines(%d, %d) (-want +got):\n%s", job, from, from+5, diff)
			}
		}
	}
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ctx := t.Context()
	chunks := sampleLog()
	appendAll(t, s, "job", chunks[:2]...)

	got, err := s.Commands(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	want := []logstore.Command{
		{Index: 0, Directive: "echo hello\necho world", StartedAt: tsp(1), FirstLine: 0, LastLine: 2},
	}
	if diff := cmp.Diff(want, got, cmpTime); diff != "" {
		t.Errorf("Commands while running (-want +got):\n%s", diff)
	}

	appendAll(t, s, "job", chunks[2:]...)
	got, err = s.Commands(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	want = []logstore.Command{
		{Index: 0, Directive: "echo hello\necho world", ExitCode: intp(0), StartedAt: tsp(1), FinishedAt: tsp(3), FirstLine: 0, LastLine: 2},
		{Index: 1, Directive: "make test", ExitCode: intp(2), StartedAt: tsp(4), FinishedAt: tsp(9), FirstLine: 3, LastLine: 5},
	}
	if diff := cmp.Diff(want, got, cmpTime); diff != "" {
		t.Errorf("Commands (-want +got):\n%s", diff)
	}
	// Callers own the result.
	*got[1].ExitCode = 99
	again, _ := s.Commands(ctx, "job")
	if *again[1].ExitCode != 2 {
		t.Error("Commands returned shared exit codes")
	}
	// A second store rebuilds them from the commands file.
	s2 := openStore(t, dir)
	got, err = s2.Commands(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpTime); diff != "" {
		t.Errorf("Commands from a second store (-want +got):\n%s", diff)
	}
}

func TestFollow(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, t.TempDir())
	chunks := sampleLog()

	ch, err := s.Follow(ctx, "job", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, evs := range chunks {
		if err := s.Append(ctx, "job", logstore.Chunk{Seq: i, Events: evs}); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-ch:
			if diff := cmp.Diff(logstore.Chunk{Seq: i, Events: evs}, c, cmpTime); diff != "" {
				t.Fatalf("chunk %d (-want +got):\n%s", i, diff)
			}
		case <-time.After(500 * time.Millisecond):
			// Far below the cross-process re-check: Append must wake us.
			t.Fatalf("chunk %d not delivered after Append", i)
		}
	}
	if err := s.Seal("job"); err != nil {
		t.Fatal(err)
	}
	select {
	case c, ok := <-ch:
		if ok {
			t.Fatalf("got chunk %d after the last one", c.Seq)
		}
	case <-time.After(500 * time.Millisecond):
		t.Fatal("follower did not end after Seal")
	}

	// After the seal: the rest from fromSeq, then the end.
	ch, err = s.Follow(ctx, "job", 1)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int
	for c := range ch {
		seqs = append(seqs, c.Seq)
	}
	if diff := cmp.Diff([]int{1, 2}, seqs); diff != "" {
		t.Errorf("Follow(1) on a sealed log (-want +got):\n%s", diff)
	}

	// Canceling ctx ends a follower; so does Delete.
	cctx, cancel := context.WithCancel(ctx)
	ch, err = s.Follow(cctx, "other", 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	expectClosed(t, ch)
	ch, err = s.Follow(ctx, "job2", 0)
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, s, "job2", chunks[0])
	<-ch
	if err := s.Delete("job2"); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, ch)
}

func expectClosed(t *testing.T, ch <-chan logstore.Chunk) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("unexpected chunk")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("follower did not end")
	}
}

func TestFollowOtherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the cross-process re-check")
	}
	dir := t.TempDir()
	writer, reader := openStore(t, dir), openStore(t, dir)
	ch, err := reader.Follow(t.Context(), "job", 0)
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, writer, "job", sampleLog()...)
	if err := writer.Seal("job"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range ch {
		n++
	}
	if n != 3 {
		t.Errorf("reader followed %d chunks, want 3", n)
	}
	if err := reader.Append(t.Context(), "job", logstore.Chunk{Seq: 0}); !errors.Is(err, logstore.ErrLocked) {
		t.Errorf("second writer: Append = %v, want ErrLocked", err)
	}
}

func TestDelete(t *testing.T) {
	s := openStore(t, t.TempDir())
	appendAll(t, s, "job", sampleLog()...)
	if err := s.Delete("job"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Info("job"); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("Info after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete("job"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	appendAll(t, s, "job", []ci.Event{output(0, "again\n")})
	checkLines(t, s, "job", []logstore.Line{{N: 0, Text: "again", Cmd: -1, Kind: "out", At: ts(0)}})
}

func TestNotFound(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx := t.Context()
	if _, err := s.Info("nope"); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("Info = %v", err)
	}
	if _, _, err := s.Lines(ctx, "nope", 0, -1); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("Lines = %v", err)
	}
	if _, _, err := s.Tail(ctx, "nope", 10); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("Tail = %v", err)
	}
	if _, err := s.Events(ctx, "nope", 0, -1); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("Events = %v", err)
	}
	if _, err := s.Commands(ctx, "nope"); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("Commands = %v", err)
	}
	// A sealed empty log exists.
	if err := s.Seal("empty"); err != nil {
		t.Fatal(err)
	}
	info, err := s.Info("empty")
	if err != nil || !info.Sealed || info.Lines != 0 {
		t.Errorf("Info(empty) = %+v, %v", info, err)
	}
}

func TestPathSafety(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, filepath.Join(dir, "logs"))
	ctx := t.Context()
	for _, id := range []string{"", ".", "..", "../x", "a/b", "/abs", `a\b`, ".hidden", "a\x00b", "-flag", "a b", strings.Repeat("x", 129)} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			checks := map[string]error{
				"Append": s.Append(ctx, id, logstore.Chunk{Events: []ci.Event{output(0, "x")}}),
				"Seal":   s.Seal(id),
				"Delete": s.Delete(id),
			}
			_, checks["Next"] = s.Next(id)
			_, checks["Info"] = s.Info(id)
			_, checks["Events"] = s.Events(ctx, id, 0, -1)
			_, _, checks["Lines"] = s.Lines(ctx, id, 0, -1)
			_, _, checks["Tail"] = s.Tail(ctx, id, 1)
			_, checks["Commands"] = s.Commands(ctx, id)
			_, checks["Follow"] = s.Follow(ctx, id, 0)
			for op, err := range checks {
				if !errors.Is(err, logstore.ErrInvalidJobID) {
					t.Errorf("%s(%q) = %v, want ErrInvalidJobID", op, id, err)
				}
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files outside the store: %v", entries)
	}
}

func TestManyJobsEvicted(t *testing.T) {
	if testing.Short() {
		t.Skip("hundreds of fsyncs")
	}
	s := openStore(t, t.TempDir())
	const jobs = 300 // more than the store keeps cached
	for round := range 2 {
		for j := range jobs {
			c := logstore.Chunk{Seq: round, Events: []ci.Event{output(round, fmt.Sprintf("job %d round %d\n", j, round))}}
			if err := s.Append(t.Context(), fmt.Sprint("job-", j), c); err != nil {
				t.Fatalf("round %d job %d: %v", round, j, err)
			}
		}
	}
	for j := range jobs {
		lines, total, err := s.Lines(t.Context(), fmt.Sprint("job-", j), 0, -1)
		if err != nil || total != 2 || lines[1].Text != fmt.Sprintf("job %d round 1", j) {
			t.Fatalf("job %d: %+v, %d, %v", j, lines, total, err)
		}
	}
}

func TestClose(t *testing.T) {
	s := openStore(t, t.TempDir())
	appendAll(t, s, "job", sampleLog()[0])
	ch, err := s.Follow(t.Context(), "job", 0)
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, ch)
	if err := s.Append(t.Context(), "job", logstore.Chunk{Seq: 1}); !errors.Is(err, logstore.ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestReaderCatchesUp has a reader in another store see a chunk whose
// index record is not written yet (the writer is between its data fsync
// and its index write), then go on reading from the index.
func TestReaderCatchesUp(t *testing.T) {
	root := t.TempDir()
	w, r := openStore(t, root), openStore(t, root)
	chunks := recoveryLog()
	appendAll(t, w, "job", chunks[:3]...)

	index := filepath.Join(root, "job", "index")
	saved, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	truncate(t, index, int64(len(saved))-64)
	mid := readState(t, r, "job")
	if mid.Info.Chunks != 3 {
		t.Fatalf("reader sees %d chunks, want 3 (the last from the data file)", mid.Info.Chunks)
	}
	if err := os.WriteFile(index, saved, 0o644); err != nil {
		t.Fatal(err)
	}

	appendAll(t, w, "job", chunks[3:]...)
	if err := w.Seal("job"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(readState(t, w, "job"), readState(t, r, "job"), cmpTime); diff != "" {
		t.Errorf("reader (-writer +reader):\n%s", diff)
	}
}
