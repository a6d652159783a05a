package logshare_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/logshare"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv/probe"
)

// servers opens n log stores with private replicas on one database and
// one blob directory, as n servers have.
func servers(t *testing.T, n int) ([]*logstore.Store, *blob.Dir) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	var out []*logstore.Store
	for i := range n {
		s, err := logstore.OpenShared(filepath.Join(dir, fmt.Sprintf("replica-%d", i)), logshare.New(db, blobs))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out, blobs
}

func out(text string) []ci.Event {
	return []ci.Event{{Kind: ci.EventCmdOutput, Output: text}}
}

func text(t *testing.T, s *logstore.Store, job string) string {
	t.Helper()
	lines, _, err := s.Lines(t.Context(), job, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

func TestAnyServerAppendsReadsAndSeals(t *testing.T) {
	ss, blobs := servers(t, 3)
	a, b, c := ss[0], ss[1], ss[2]
	ctx := t.Context()
	if _, err := b.Info("job1"); !errors.Is(err, logstore.ErrNotFound) {
		t.Fatalf("info of an unknown log: %v", err)
	}
	ch, err := b.Follow(ctx, "job1", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := a.Append(ctx, "job1", logstore.Chunk{Seq: i, Events: out(fmt.Sprintf("line %d\n", i))}); err != nil {
			t.Fatal(err)
		}
	}
	// A retry of a stored chunk through another server is a no-op; a gap
	// is refused with the seq to send.
	if err := b.Append(ctx, "job1", logstore.Chunk{Seq: 1, Events: out("line 1\n")}); err != nil {
		t.Fatalf("retry through another server: %v", err)
	}
	var gap *logstore.GapError
	if err := b.Append(ctx, "job1", logstore.Chunk{Seq: 7, Events: out("x")}); !errors.As(err, &gap) || gap.Want != 3 {
		t.Fatalf("gap through another server: %v", err)
	}
	if got := text(t, b, "job1"); got != "line 0\nline 1\nline 2\n" {
		t.Fatalf("read through b: %q", got)
	}
	// The server that did not write the log seals it; the writer then
	// finds it sealed.
	if err := c.AppendNext(ctx, "job1", out("the end\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.Seal("job1"); err != nil {
		t.Fatalf("seal through a server that never wrote the log: %v", err)
	}
	if err := a.Append(ctx, "job1", logstore.Chunk{Seq: 4, Events: out("late\n")}); !errors.Is(err, logstore.ErrSealed) {
		t.Fatalf("append after another server sealed: %v, want ErrSealed", err)
	}
	var followed []string
	timeout := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case chunk, ok := <-ch:
			if !ok {
				done = true
				break
			}
			for _, ev := range chunk.Events {
				followed = append(followed, ev.Output)
			}
		case <-timeout:
			t.Fatalf("the follower did not end; got %q", followed)
		}
	}
	if got := strings.Join(followed, ""); got != "line 0\nline 1\nline 2\nthe end\n" {
		t.Fatalf("followed %q", got)
	}
	for i, s := range ss {
		info, err := s.Info("job1")
		if err != nil || !info.Sealed || info.Chunks != 4 {
			t.Errorf("server %d: info %+v %v", i, info, err)
		}
	}
	// One sealed object, no chunk objects.
	var keys []string
	for info, err := range blobs.List(ctx, "logs/job1/") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, info.Key)
	}
	if strings.Join(keys, " ") != "logs/job1/log" {
		t.Fatalf("objects: %v", keys)
	}
	if err := a.Delete("job1"); err != nil {
		t.Fatal(err)
	}
	for info, err := range blobs.List(ctx, "logs/job1/") {
		t.Errorf("object left after delete: %+v %v", info, err)
	}
}

// TestEmptyReplicaReadsTheSealedObject: a server that never saw a log
// (restarted, new) serves it from the one sealed object.
func TestEmptyReplicaReadsTheSealedObject(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	ctx := t.Context()
	a, err := logstore.OpenShared(filepath.Join(dir, "a"), logshare.New(db, blobs))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := a.Append(ctx, "job", logstore.Chunk{Seq: i, Events: []ci.Event{
			{Kind: ci.EventCmdStarted, Directive: fmt.Sprintf("echo %d", i)},
			{Kind: ci.EventCmdOutput, Output: fmt.Sprintf("%d\n", i)},
			{Kind: ci.EventCmdFinished, Directive: fmt.Sprintf("echo %d", i)},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Seal("job"); err != nil {
		t.Fatal(err)
	}
	want := text(t, a, "job")
	a.Close()
	b, err := logstore.OpenShared(filepath.Join(dir, "b"), logshare.New(db, blobs))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := text(t, b, "job"); got != want {
		t.Fatalf("from the sealed object:\n%s\nwant\n%s", got, want)
	}
	cmds, err := b.Commands(ctx, "job")
	if err != nil || len(cmds) != 50 {
		t.Fatalf("commands from the sealed object: %d, %v", len(cmds), err)
	}
}

// TestRacingServersStoreEachSeqOnce: servers race to append at the same
// seqs (an agent's chunk against a server's own line): every replica ends
// with the same chunks, each line once.
func TestRacingServersStoreEachSeqOnce(t *testing.T) {
	ss, _ := servers(t, 3)
	ctx := context.Background()
	var wg sync.WaitGroup
	// The agent sends chunks 0..19 through server 0.
	wg.Go(func() {
		for i := range 20 {
			if err := ss[0].Append(ctx, "job", logstore.Chunk{Seq: i, Events: out(fmt.Sprintf("agent %d\n", i))}); err != nil {
				t.Errorf("agent chunk %d: %v", i, err)
				return
			}
		}
	})
	// The other servers add their own lines meanwhile.
	for k := 1; k <= 2; k++ {
		wg.Go(func() {
			for i := range 5 {
				if err := ss[k].AppendNext(ctx, "job", out(fmt.Sprintf("server %d line %d\n", k, i))); err != nil {
					t.Errorf("server %d: %v", k, err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Reads trust a replica for up to 100 ms before asking again: wait
	// until every replica has asked.
	probe.Eventually(t, 10*time.Second, func() error {
		first := text(t, ss[0], "job")
		for k, s := range ss[1:] {
			if got := text(t, s, "job"); got != first {
				return fmt.Errorf("replica %d differs from replica 0:\n%s\nvs\n%s", k+1, got, first)
			}
		}
		return nil
	})
	want := text(t, ss[0], "job")
	for k := 1; k <= 2; k++ {
		for i := range 5 {
			if n := strings.Count(want, fmt.Sprintf("server %d line %d\n", k, i)); n != 1 {
				t.Errorf("server %d line %d stored %d times", k, i, n)
			}
		}
	}
	for _, s := range ss[1:] {
		if got := text(t, s, "job"); got != want {
			t.Fatalf("replicas differ:\n%s\nvs\n%s", got, want)
		}
	}
}

// TestOneChunkLogIsNotCopied: a log of one small chunk takes no object
// (its row holds it); a log of one large chunk keeps that chunk's object
// as its whole log, without a copy. Both read through any server and
// leave nothing once deleted.
func TestOneChunkLogIsNotCopied(t *testing.T) {
	ss, blobs := servers(t, 2)
	a, b := ss[0], ss[1]
	ctx := t.Context()
	noise := make([]byte, 3*logshare.InlineMax)
	rand.Read(noise)
	large := hex.EncodeToString(noise) // incompressible, past InlineMax once compressed
	for _, tc := range []struct {
		job, line string
		objects   int
	}{
		{"small", "only line", 0},
		{"large", large, 1},
	} {
		if err := a.Append(ctx, tc.job, logstore.Chunk{Seq: 0, Events: out(tc.line + "\n")}); err != nil {
			t.Fatal(err)
		}
		if err := a.Seal(tc.job); err != nil {
			t.Fatal(err)
		}
		keys := func() []string {
			var keys []string
			for info, err := range blobs.List(ctx, "logs/"+tc.job+"/") {
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, info.Key)
			}
			return keys
		}
		if k := keys(); len(k) != tc.objects || (tc.objects == 1 && !strings.HasPrefix(k[0], "logs/"+tc.job+"/chunks/")) {
			t.Fatalf("%s: objects of a one-chunk log: %v, want %d chunk object(s)", tc.job, k, tc.objects)
		}
		if got := text(t, b, tc.job); got != tc.line+"\n" {
			t.Fatalf("%s: read through another server: %.40q", tc.job, got)
		}
		if info, err := b.Info(tc.job); err != nil || !info.Sealed || info.Chunks != 1 {
			t.Fatalf("%s: info through another server: %+v %v", tc.job, info, err)
		}
		if err := b.Append(ctx, tc.job, logstore.Chunk{Seq: 1, Events: out("late\n")}); !errors.Is(err, logstore.ErrSealed) {
			t.Fatalf("%s: append after the seal: %v, want ErrSealed", tc.job, err)
		}
		if err := b.Delete(tc.job); err != nil {
			t.Fatal(err)
		}
		if k := keys(); len(k) != 0 {
			t.Fatalf("%s: objects left after delete: %v", tc.job, k)
		}
	}
}

// TestSealAtTheAgentsCount: a job's end seals its log only at the count
// of chunks its agent sent, whichever server got them; the replica of the
// server that seals catches up with chunks sent to another, and a seal
// at the wrong count leaves the log open for the missing chunks.
func TestSealAtTheAgentsCount(t *testing.T) {
	ss, _ := servers(t, 2)
	a, b := ss[0], ss[1]
	ctx := t.Context()
	for i := range 2 {
		next, err := a.AppendAck(ctx, "job1", logstore.Chunk{Seq: i, Events: out(fmt.Sprintf("line %d\n", i))})
		if err != nil || next != i+1 {
			t.Fatalf("append %d through a: next %d, %v", i, next, err)
		}
	}
	// The agent moves to b for its third chunk: b's replica knows
	// nothing of the first two, yet acknowledges the third.
	next, err := b.AppendAck(ctx, "job1", logstore.Chunk{Seq: 2, Events: out("line 2\n")})
	if err != nil || next != 3 {
		t.Fatalf("append 2 through b: next %d, %v", next, err)
	}
	// A retry of chunk 0 through a says no more than a knows.
	if next, err := a.AppendAck(ctx, "job1", logstore.Chunk{Seq: 0, Events: out("line 0\n")}); err != nil || next < 1 || next > 3 {
		t.Fatalf("retry through a: next %d, %v", next, err)
	}
	// The agent claims four chunks: refused with the count held.
	var count *logstore.CountError
	if err := a.SealAt("job1", 4); !errors.As(err, &count) || count.Have != 3 {
		t.Fatalf("seal at 4 of 3 chunks: %v, want a CountError saying 3", err)
	}
	if err := a.SealAt("job1", 2); !errors.As(err, &count) || count.Have != 3 {
		t.Fatalf("seal at 2 of 3 chunks: %v, want a CountError saying 3", err)
	}
	// Still open: the chunk is accepted.
	if _, err := b.AppendAck(ctx, "job1", logstore.Chunk{Seq: 3, Events: out("line 3\n")}); err != nil {
		t.Fatalf("append after refused seals: %v", err)
	}
	// a seals at the right count; its replica catches up with b's chunks.
	if err := a.SealAt("job1", 4); err != nil {
		t.Fatalf("seal at 4: %v", err)
	}
	if err := a.SealAt("job1", 4); err != nil {
		t.Fatalf("second seal at 4: %v", err)
	}
	if got := text(t, a, "job1"); got != "line 0\nline 1\nline 2\nline 3\n" {
		t.Fatalf("read through a: %q", got)
	}
	info, err := a.Info("job1")
	if err != nil || !info.Sealed || info.Chunks != 4 {
		t.Fatalf("info through a: %+v %v", info, err)
	}
	if _, err := b.AppendAck(ctx, "job1", logstore.Chunk{Seq: 4, Events: out("late\n")}); !errors.Is(err, logstore.ErrSealed) {
		t.Fatalf("append after the seal: %v, want ErrSealed", err)
	}
	if err := b.SealAt("job1", 3); !errors.As(err, &count) || count.Have != 4 {
		t.Fatalf("seal of a sealed log at another count: %v", err)
	}
	// A log without chunks seals at zero.
	if err := b.SealAt("job2", 0); err != nil {
		t.Fatalf("seal an empty log: %v", err)
	}
	if info, err := a.Info("job2"); err != nil || !info.Sealed || info.Chunks != 0 {
		t.Fatalf("empty log through a: %+v %v", info, err)
	}
}

// TestSealWithTheLastChunk: a job's last chunk, sent with its result, is
// stored and the log sealed after it, whichever server took the chunks
// before; a chunk missing before it is a gap; a retry is answered the
// same; a log sealed at another count (the job failed as lost) says so.
func TestSealWithTheLastChunk(t *testing.T) {
	ss, _ := servers(t, 2)
	a, b := ss[0], ss[1]
	ctx := t.Context()

	// A whole log with the result.
	if err := a.SealWith(ctx, "one", logstore.Chunk{Seq: 0, Events: out("all of it\n")}); err != nil {
		t.Fatal(err)
	}
	if got := text(t, b, "one"); got != "all of it\n" {
		t.Fatalf("read through b: %q", got)
	}
	if info, err := b.Info("one"); err != nil || !info.Sealed || info.Chunks != 1 {
		t.Fatalf("info through b: %+v %v", info, err)
	}

	// Chunks 0 and 1 went to b; chunk 1 is missing at first.
	if err := b.Append(ctx, "three", logstore.Chunk{Seq: 0, Events: out("line 0\n")}); err != nil {
		t.Fatal(err)
	}
	var gap *logstore.GapError
	if err := a.SealWith(ctx, "three", logstore.Chunk{Seq: 2, Events: out("line 2\n")}); !errors.As(err, &gap) || gap.Want != 1 {
		t.Fatalf("the last chunk with one missing: %v, want a gap at 1", err)
	}
	if err := b.Append(ctx, "three", logstore.Chunk{Seq: 1, Events: out("line 1\n")}); err != nil {
		t.Fatalf("the missing chunk after the refused last one: %v", err)
	}
	for range 2 { // the second as a retry after a lost answer
		if err := a.SealWith(ctx, "three", logstore.Chunk{Seq: 2, Events: out("line 2\n")}); err != nil {
			t.Fatalf("the last chunk: %v", err)
		}
	}
	for _, s := range ss {
		if got := text(t, s, "three"); got != "line 0\nline 1\nline 2\n" {
			t.Fatalf("read: %q", got)
		}
	}
	if info, err := a.Info("three"); err != nil || !info.Sealed || info.Chunks != 3 {
		t.Fatalf("info: %+v %v", info, err)
	}

	// Sealed by a server at one chunk (the job failed as lost): the
	// agent's last chunk is refused with the count held.
	if err := b.Append(ctx, "lost", logstore.Chunk{Seq: 0, Events: out("started\n")}); err != nil {
		t.Fatal(err)
	}
	if err := b.SealAt("lost", 1); err != nil {
		t.Fatal(err)
	}
	var count *logstore.CountError
	if err := a.SealWith(ctx, "lost", logstore.Chunk{Seq: 1, Events: out("ended\n")}); !errors.As(err, &count) || count.Have != 1 {
		t.Fatalf("the last chunk of a log sealed elsewhere: %v, want a CountError saying 1", err)
	}
}
