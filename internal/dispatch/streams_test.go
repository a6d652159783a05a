package dispatch_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/store"
)

// runningAgent registers an agent on the first server and hands it a
// job; it returns the agent's client, its ID and the job's.
func (e *env) runningAgent(t *testing.T) (c *agentapi.Client, agentID, jobID string) {
	t.Helper()
	e.push()
	c = e.client(0)
	agentID = register(t, c, "runner", 1)
	resp, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: agentID, FreeSlots: 1})
	if err != nil || len(resp.Assign) != 1 {
		t.Fatalf("poll = %+v, %v; want one assignment", resp, err)
	}
	return c, agentID, resp.Assign[0].JobID
}

// debugUser stores a user with an SSH key: a poll delivers only the
// streams someone could sign in to.
func (e *env) debugUser(t *testing.T) *ci.User {
	t.Helper()
	u := &ci.User{Login: "ada"}
	err := e.db().Tx(t.Context(), func(tx *store.Tx) error {
		if err := tx.CreateUser(u, ""); err != nil {
			return err
		}
		return tx.AddSSHKey(&store.SSHKey{UserID: u.ID, Name: "laptop", PublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests ada", Fingerprint: "SHA256:fake-" + u.ID})
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type polled struct {
	resp *agentapi.PollResponse
	err  error
}

// holdPoll sends a poll of an agent running job, and waits until the
// first server holds it (it found nothing to send).
func (e *env) holdPoll(t *testing.T, ctx context.Context, c *agentapi.Client, agentID, jobID string) <-chan polled {
	t.Helper()
	out := make(chan polled, 1)
	go func() {
		resp, err := c.Poll(ctx, agentapi.PollRequest{AgentID: agentID, Running: []string{jobID}})
		out <- polled{resp, err}
	}()
	e.waitHeld(t, agentID, func() bool { return len(out) > 0 })
	if len(out) > 0 {
		p := <-out
		t.Fatalf("the poll returned at once: %+v, %v", p.resp, p.err)
	}
	return out
}

// wantStream waits for a held poll to return the session's stream.
func wantStream(t *testing.T, held <-chan polled, sessionID string) agentapi.Stream {
	t.Helper()
	p := <-held // the poll's context bounds the wait
	if p.err != nil {
		t.Fatalf("held poll: %v; want it to bring the debug session", p.err)
	}
	i := slices.IndexFunc(p.resp.Streams, func(s agentapi.Stream) bool { return s.ID == sessionID })
	if i < 0 {
		t.Fatalf("held poll returned %+v, without the debug session %s", p.resp, sessionID)
	}
	return p.resp.Streams[i]
}

// TestDebugStreamAskedOnAnotherServer: with two servers sharing
// PostgreSQL, a debug session asked on one reaches at once the agent
// whose poll the other holds (the session's notification makes that
// poll read the agent's sessions, which its looks otherwise skip), and
// the agent's dial meets the user's end on the server that asked.
func TestDebugStreamAskedOnAnotherServer(t *testing.T) {
	e := newEnv(t, store.Postgres, options{servers: 2, pollTimeout: 5 * time.Minute})
	c, agentID, jobID := e.runningAgent(t)
	u := e.debugUser(t)
	// Well under the poll's timeout, and over the stream's.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	held := e.holdPoll(t, ctx, c, agentID, jobID)

	sess := &store.DebugSession{JobID: jobID, ProjectID: e.proj.ID, AgentID: agentID, UserID: u.ID, Login: u.Login, Kind: "attach"}
	opened := make(chan error, 1)
	go func() {
		conn, err := e.servers[1].disp.OpenStream(ctx, sess)
		if conn != nil {
			conn.Close()
		}
		opened <- err
	}()
	st := wantStream(t, held, waitSessionID(t, ctx, e, agentID))
	if st.JobID != jobID || len(st.AuthorizedKeys) != 1 {
		t.Errorf("stream %+v; want job %s with the user's key", st, jobID)
	}
	other := e.client(1)
	other.SetCredential(c.Credential())
	conn, err := other.DialStream(ctx, st, agentID)
	if err != nil {
		t.Fatalf("dial the stream on the server that asked: %v", err)
	}
	conn.Close()
	if err := <-opened; err != nil {
		t.Errorf("OpenStream: %v", err)
	}
}

// waitSessionID returns the ID of the agent's pending debug session, once
// it is stored.
func waitSessionID(t *testing.T, ctx context.Context, e *env, agentID string) string {
	t.Helper()
	for {
		ss, err := e.db().PendingDebugSessions(ctx, agentID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) > 0 {
			return ss[0].ID
		}
		select {
		case <-ctx.Done():
			t.Fatal("no debug session was stored")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestDebugStreamAfterLostNotifications: when notifications may have
// been lost (the listening connection was lost and is back, which
// notifies ""), held polls look again and read their agents' sessions:
// a session whose notification was lost still reaches its agent.
func TestDebugStreamAfterLostNotifications(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{pollTimeout: 5 * time.Minute})
		c, agentID, jobID := e.runningAgent(t)
		u := e.debugUser(t)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		held := e.holdPoll(t, ctx, c, agentID, jobID)

		// A session stored without its notification.
		sess := &store.DebugSession{JobID: jobID, ProjectID: e.proj.ID, AgentID: agentID, UserID: u.ID, Login: u.Login, Kind: "attach", CreatedAt: time.Now()}
		if err := e.db().Tx(ctx, func(tx *store.Tx) error { return tx.CreateDebugSession(sess) }); err != nil {
			t.Fatal(err)
		}
		if err := e.db().Notify(ctx, engine.ChannelCancel, ""); err != nil {
			t.Fatal(err)
		}
		wantStream(t, held, sess.ID)
	})
}
