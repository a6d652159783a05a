package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
)

// eventOverhead is a generous estimate of the JSON size of an event
// besides its output and directive.
const eventOverhead = 160

// maxLastChunk is the largest last chunk sent with the job's result
// (FinishRequest.Last) rather than on its own: the result's request is
// not compressed, and a small job's whole log fits.
const maxLastChunk = 16 << 10

// uploader batches one job's events into sequenced chunks and delivers
// them, in order, and then the job's result. Events come from the runner
// through emit; one goroutine (run) sends.
type uploader struct {
	a     *agent
	jobID string
	log   *slog.Logger

	mu           sync.Mutex
	pending      []ci.Event // events not yet in a chunk
	pendingSize  int
	pendingSince time.Time // when the oldest pending event came
	chunks       []*sealed // every chunk so far; the index is its Seq
	closed       bool      // the job has ended: no more events
	result       ci.Result // valid once closed
	reason       ci.Reason // valid once closed
	wake         chan struct{}

	// next is the sequence number to send next; only run uses it.
	next int
}

// sealed is one chunk. Once the server has acknowledged it, it is kept
// compressed, in case the server reports a gap and asks for it again.
// Only the run goroutine touches its fields.
type sealed struct {
	chunk *agentapi.LogChunk // nil when compressed
	gz    []byte
	// est is the estimate of its JSON size (eventSize) it was sealed at.
	est int
}

// size is the estimate of the chunk's JSON size.
func (s *sealed) size() int { return s.est }

func newUploader(a *agent, jobID string, log *slog.Logger) *uploader {
	return &uploader{a: a, jobID: jobID, log: log, wake: make(chan struct{}, 1)}
}

// emit adds an event to the log. It is safe for concurrent use.
func (u *uploader) emit(ev ci.Event) {
	max := u.a.cfg.ChunkSize
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	for _, ev := range split(ev, max) {
		size := eventSize(ev)
		if u.pendingSize > 0 && u.pendingSize+size > max {
			u.seal()
		}
		if len(u.pending) == 0 {
			u.pendingSince = time.Now()
			u.signal() // the sender starts the interval's timer
		}
		u.pending = append(u.pending, ev)
		u.pendingSize += size
		if u.pendingSize >= max {
			u.seal()
		}
	}
}

// close marks the end of the job's events.
func (u *uploader) close(result ci.Result, reason ci.Reason) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closed, u.result, u.reason = true, result, reason
	u.signal()
}

// seal turns the pending events into a chunk. u.mu must be held.
func (u *uploader) seal() {
	if len(u.pending) == 0 {
		return
	}
	u.chunks = append(u.chunks, &sealed{chunk: &agentapi.LogChunk{Seq: len(u.chunks), Events: u.pending}, est: u.pendingSize})
	u.pending, u.pendingSize = nil, 0
	u.signal()
}

func (u *uploader) signal() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// run sends the chunks in order as they come, then the result, retrying
// each until the server accepts it or ctx is done.
func (u *uploader) run(ctx context.Context) {
	client := u.a.client
	interval := u.a.cfg.ChunkInterval
	b := u.a.backoff()
	gaps := 0 // gap answers in a row
	// together: the last chunk goes with the result, until a gap answer
	// to a finish (a server that does not take it so: it is sent alone).
	together := true
	// gap rewinds to the server's next chunk; a gap answer that repeats
	// waits first, so that a confused server is not hammered.
	gap := func(next int) bool {
		gaps++
		if gaps > 1 && !sleep(ctx, b.next()) {
			u.log.Error("gave up delivering the job's log and result", logErr, context.Cause(ctx))
			return false
		}
		return u.moveTo(next)
	}
	for {
		u.mu.Lock()
		if len(u.pending) > 0 && (u.closed || time.Since(u.pendingSince) >= interval) {
			u.seal()
		}
		var next *sealed
		if u.next < len(u.chunks) {
			next = u.chunks[u.next]
		}
		total := len(u.chunks)
		done := u.closed && len(u.pending) == 0
		result, reason := u.result, u.reason
		wait := time.Duration(-1)
		if len(u.pending) > 0 {
			wait = interval - time.Since(u.pendingSince)
		}
		u.mu.Unlock()

		switch {
		// The result, with the last chunk when it is small (unless a
		// server took it badly: it then goes alone).
		case done && (next == nil || together && u.next == total-1 && next.size() <= maxLastChunk):
			req := agentapi.FinishRequest{Result: result, Reason: reason, Chunks: total}
			if next != nil {
				chunk, err := next.get()
				if err != nil { // cannot happen: we compressed it ourselves
					u.log.Error("giving up on the job's log: a kept chunk is unreadable", logErr, err)
					return
				}
				req.Last = chunk
			}
			err := client.Finish(ctx, u.jobID, req)
			var ge *agentapi.GapError
			switch {
			case err == nil:
				u.log.Info("job result delivered", "result", result, "chunks", total)
				return
			case errors.As(err, &ge):
				u.log.Warn("the server misses log chunks at finish; resending", "from", ge.Next, "chunks", total)
				together = false
				if !gap(ge.Next) {
					return
				}
			default:
				if !u.retry(ctx, b, err) {
					return
				}
			}

		case next != nil:
			chunk, err := next.get()
			if err != nil { // cannot happen: we compressed it ourselves
				u.log.Error("giving up on the job's log: a kept chunk is unreadable", logErr, err)
				return
			}
			ack, err := client.SendLog(ctx, u.jobID, *chunk)
			var ge *agentapi.GapError
			switch {
			case err == nil:
				b.reset()
				gaps = 0
				if !u.moveTo(ack.Next) {
					return
				}
			case errors.As(err, &ge):
				u.log.Warn("the server misses log chunks; resending", "from", ge.Next, "sent", chunk.Seq)
				if !gap(ge.Next) {
					return
				}
			default:
				if !u.retry(ctx, b, err) {
					return
				}
			}

		default:
			var tick <-chan time.Time
			var t *time.Timer
			if wait >= 0 {
				t = time.NewTimer(wait)
				tick = t.C
			}
			select {
			case <-u.wake:
			case <-tick:
			case <-ctx.Done():
				u.log.Error("gave up delivering the job's log and result", logErr, context.Cause(ctx))
				return
			}
			if t != nil {
				t.Stop()
			}
		}
	}
}

// retry waits before a request is sent again; it returns false if the
// request must not be retried.
func (u *uploader) retry(ctx context.Context, b *backoff, err error) bool {
	if ctx.Err() != nil {
		u.log.Error("gave up delivering the job's log and result", logErr, context.Cause(ctx))
		return false
	}
	if !agentapi.IsRetryable(err) {
		u.log.Error("the server refused the job's log or result; giving up", logErr, err)
		return false
	}
	d := b.next()
	u.log.Warn("delivering the job's log failed; retrying", logErr, err, "retry_in", d)
	if !sleep(ctx, d) {
		u.log.Error("gave up delivering the job's log and result", logErr, context.Cause(ctx))
		return false
	}
	return true
}

// moveTo makes next the sequence number to send next, after the server
// said it has every chunk before it; those chunks are compressed. It
// returns false if the server's next is impossible.
func (u *uploader) moveTo(next int) bool {
	u.mu.Lock()
	total := len(u.chunks)
	var acked []*sealed
	if next >= 0 && next <= total {
		acked = u.chunks[:next]
	}
	u.mu.Unlock()
	if next < 0 || next > total {
		u.log.Error("giving up on the job's log: the server expects a chunk the agent never made", "next", next, "chunks", total)
		return false
	}
	for _, s := range acked {
		s.compress(&u.a.gzip)
	}
	u.next = next
	return true
}

// get returns the chunk, decompressing it if needed.
func (s *sealed) get() (*agentapi.LogChunk, error) {
	if s.chunk != nil {
		return s.chunk, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(s.gz))
	if err != nil {
		return nil, err
	}
	var c agentapi.LogChunk
	if err := json.NewDecoder(zr).Decode(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// compress replaces the chunk with its gzip-compressed JSON.
func (s *sealed) compress(g *agentapi.Gzip) {
	if s.chunk == nil {
		return
	}
	gz, err := g.Compress(func(w io.Writer) error { return json.NewEncoder(w).Encode(s.chunk) })
	if err != nil {
		return // keep it as it is
	}
	s.gz, s.chunk = gz, nil
}

// eventSize estimates the JSON size of an event.
func eventSize(ev ci.Event) int {
	return eventOverhead + len(ev.Output) + len(ev.Directive)
}

// split cuts an output event too big for one chunk into several, at
// UTF-8 character boundaries.
func split(ev ci.Event, max int) []ci.Event {
	limit := max - eventOverhead - len(ev.Directive)
	if ev.Kind != ci.EventCmdOutput || eventSize(ev) <= max || limit < utf8.UTFMax {
		return []ci.Event{ev}
	}
	var out []ci.Event
	s := ev.Output
	for len(s) > limit {
		cut := limit
		for cut > limit-utf8.UTFMax && cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		part := ev
		part.Output = s[:cut]
		out = append(out, part)
		s = s[cut:]
	}
	if s != "" {
		part := ev
		part.Output = s
		out = append(out, part)
	}
	return out
}
