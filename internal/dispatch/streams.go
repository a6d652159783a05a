package dispatch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/store"
)

// Debug session streams (see agentapi): OpenStream records a pending
// session and wakes the agent's poll, whose response carries the stream;
// the agent dials it and handleStream hands its connection to the waiting
// OpenStream. The waiting end lives in this server's memory.
//
// A poll reads its agent's pending sessions only when one may wait: the
// server remembers the agents whose sessions it read and found none
// waiting (streamsRead), and forgets an agent on every "cancel"
// notification naming it, which OpenStream sends on whichever server it
// runs, and forgets them all on a notification that others may have been
// missed (""). So an agent running jobs costs no query per poll for its
// sessions, yet a session reaches its poll on any server.

// DefaultStreamTimeout is how long OpenStream waits for the agent to dial.
const DefaultStreamTimeout = 30 * time.Second

// streamResend is how long after a stream was delivered in a poll it is
// delivered again while the agent has not dialled it.
const streamResend = 5 * time.Second

// ErrAgentUnreachable is returned by OpenStream when the job's agent did
// not dial the stream in time.
var ErrAgentUnreachable = errors.New("the job's agent did not answer")

// pendingStream is a stream waiting for its agent.
type pendingStream struct {
	agentID string
	conn    chan io.ReadWriteCloser // buffered 1
}

// OpenStream asks the agent of the session's job for a stream, waits for
// it to dial it (at most DefaultStreamTimeout) and returns the agent's
// connection; the session is recorded pending, then open. The agent's SSH
// server accepts the session's user's registered keys.
func (d *Dispatcher) OpenStream(ctx context.Context, sess *store.DebugSession) (io.ReadWriteCloser, error) {
	ps := &pendingStream{agentID: sess.AgentID, conn: make(chan io.ReadWriteCloser, 1)}
	sess.CreatedAt = d.now()
	sess.ServerURL = d.cfg.URL
	err := d.db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateDebugSession(sess); err != nil {
			return err
		}
		// The poll of the agent, on whichever server, looks again.
		return tx.Notify(engine.ChannelCancel, sess.AgentID)
	})
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	d.mu.Lock()
	d.streams[sess.ID] = ps
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.streams, sess.ID)
		delete(d.streamSent, sess.ID)
		d.mu.Unlock()
	}()
	// At once, without waiting for the notification to come round.
	d.news(sess.AgentID)
	t := time.NewTimer(d.cfg.StreamTimeout)
	defer t.Stop()
	fail := func(err error) (io.ReadWriteCloser, error) {
		_ = d.db.Tx(context.WithoutCancel(ctx), func(tx *store.Tx) error { return tx.CloseDebugSession(sess.ID, d.now()) })
		return nil, err
	}
	select {
	case c := <-ps.conn:
		return c, nil
	case <-t.C:
		return fail(fmt.Errorf("open stream: %w within %v", ErrAgentUnreachable, d.cfg.StreamTimeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-d.stopping:
		return fail(errors.New("open stream: the server is stopping"))
	}
}

// maxStreamsRead bounds streamsRead: agents that went away stay in it,
// so once it is full it starts again empty (it only spares reads).
const maxStreamsRead = 1 << 16

// streamsFor returns the streams a poll of an agent should deliver: none
// without a query when the server read the agent's sessions since the
// last notification that could concern them and found none waiting.
func (d *Dispatcher) streamsFor(ctx context.Context, agentID string) ([]agentapi.Stream, error) {
	d.mu.Lock()
	read := d.streamsRead[agentID]
	if !read {
		if len(d.streamsRead) >= maxStreamsRead {
			clear(d.streamsRead)
		}
		// Before the query: a notification that comes during it
		// forgets the mark again, and its poll reads once more.
		d.streamsRead[agentID] = true
	}
	d.mu.Unlock()
	if read {
		return nil, nil
	}
	out, waiting, err := d.pendingStreams(ctx, agentID)
	if err != nil || waiting {
		// Read again next time: a stream delivered and not dialled
		// is delivered again (streamResend).
		d.forgetStreams(agentID)
	}
	return out, err
}

// forgetStreams makes the next poll of an agent read its sessions.
func (d *Dispatcher) forgetStreams(agentID string) {
	d.mu.Lock()
	delete(d.streamsRead, agentID)
	d.mu.Unlock()
}

// news makes the polls of an agent look again, for its sessions too: a
// "cancel" notification names it (a stop request, a debug session, a
// revoked token).
func (d *Dispatcher) news(agentID string) {
	d.mu.Lock()
	d.newsCount++
	d.mu.Unlock()
	d.forgetStreams(agentID)
	d.wake(agentID)
}

// newsForAll is news for every agent, after notifications may have been
// lost (the listening connection was lost, a backlog overflowed).
func (d *Dispatcher) newsForAll() {
	d.mu.Lock()
	d.newsCount++
	clear(d.streamsRead)
	var ws []*waiter
	for _, set := range d.byAgent {
		for w := range set {
			ws = append(ws, w)
		}
	}
	d.mu.Unlock()
	for _, w := range ws {
		w.wake()
	}
}

// pendingStreams returns the pending streams of an agent not delivered
// recently, whichever server holds their user's end, with the keys of
// their users; waiting reports whether any session still waits for the
// agent, delivered or not.
func (d *Dispatcher) pendingStreams(ctx context.Context, agentID string) (out []agentapi.Stream, waiting bool, err error) {
	pending, err := d.db.PendingDebugSessions(ctx, agentID)
	if err != nil || len(pending) == 0 {
		return nil, false, err
	}
	now := d.now()
	for _, s := range pending {
		if now.Sub(s.CreatedAt) > d.cfg.StreamTimeout {
			continue // abandoned
		}
		waiting = true
		d.mu.Lock()
		sent, ok := d.streamSent[s.ID]
		d.mu.Unlock()
		if ok && now.Sub(sent) < streamResend {
			continue
		}
		keys, err := d.db.SSHKeys(ctx, s.UserID)
		if err != nil {
			return nil, false, err
		}
		st := agentapi.Stream{ID: s.ID, JobID: s.JobID, Kind: s.Kind, User: s.Login, URL: s.ServerURL}
		for _, k := range keys {
			st.AuthorizedKeys = append(st.AuthorizedKeys, k.PublicKey)
		}
		if len(st.AuthorizedKeys) == 0 {
			continue // nobody could sign in
		}
		d.mu.Lock()
		d.streamSent[s.ID] = now
		d.mu.Unlock()
		out = append(out, st)
	}
	return out, waiting, nil
}

// handleStream takes an agent's dial of a stream: it checks the stream
// was asked of that agent, answers 101 and hands the connection over.
func (d *Dispatcher) handleStream(w http.ResponseWriter, r *http.Request) {
	ac, err := d.authenticateAgent(r)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), agentapi.StreamUpgrade) {
		d.fail(w, r, errorf(http.StatusBadRequest, "a stream is an upgrade to %s", agentapi.StreamUpgrade))
		return
	}
	id := r.PathValue("id")
	// The credential says which agent dials; the header may only agree.
	agentID := ac.id
	if h := r.Header.Get(agentapi.HeaderAgentID); h != "" && h != agentID {
		d.fail(w, r, errorf(http.StatusForbidden, "this credential is agent %s's, not agent %s's", agentID, h))
		return
	}
	d.mu.Lock()
	ps := d.streams[id]
	if ps != nil && ps.agentID == agentID {
		delete(d.streams, id) // one dial only
	}
	d.mu.Unlock()
	if ps == nil {
		d.fail(w, r, errorf(http.StatusNotFound, "no stream %s waits on this server", id))
		return
	}
	if ps.agentID != agentID {
		d.fail(w, r, errorf(http.StatusForbidden, "stream %s is not for this agent", id))
		return
	}
	if err := d.db.Tx(r.Context(), func(tx *store.Tx) error { return tx.OpenDebugSession(id, d.now()) }); err != nil {
		d.fail(w, r, err)
		return
	}
	conn, err := Upgrade(w, agentapi.StreamUpgrade)
	if err != nil {
		d.log.Error("upgrade stream", "stream", id, "err", err)
		return
	}
	ps.conn <- conn
}

// Upgrade answers 101 Switching Protocols to protocol and takes the
// connection over; what the client sent after its request is read first.
func Upgrade(w http.ResponseWriter, protocol string) (io.ReadWriteCloser, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "this connection cannot be upgraded", http.StatusInternalServerError)
		return nil, errors.New("upgrade: the response writer cannot hijack")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	if _, err := brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + protocol + "\r\n\r\n"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	if err := brw.Flush(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	return &hijacked{Conn: conn, r: brw.Reader}, nil
}

// hijacked is a taken-over connection whose buffered input is read first.
type hijacked struct {
	net.Conn
	r *bufio.Reader
}

func (h *hijacked) Read(p []byte) (int, error) { return h.r.Read(p) }

// CloseWrite half-closes the connection, when it is TCP.
func (h *hijacked) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return h.Conn.Close()
}
