package dispatch_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/dispatch"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv/probe"
)

func TestMain(m *testing.M) {
	restore := gittest.Hermetic()
	code := m.Run()
	restore()
	os.Exit(code)
}

const twoBlocksYAML = `version: v1.0
name: Demo
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    task:
      jobs:
        - name: a
          commands: [echo a]
  - name: B
    task:
      jobs:
        - name: b
          commands: [echo b]
`

// twoJobsYAML has one block of two jobs, both queued at once.
const twoJobsYAML = `version: v1.0
name: Two
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    task:
      jobs:
        - name: a
          commands: [echo a]
        - name: b
          commands: [echo b]
`

// server is one Baton server: an engine and a dispatcher on a store,
// serving the agent protocol over HTTP.
type server struct {
	db   *store.DB
	eng  *engine.Engine
	disp *dispatch.Dispatcher
	srv  *httptest.Server
	// kept counts the polls whose first look used the server's kept
	// look of their agent instead of reading it (Metrics.LookKept).
	kept *atomic.Int64
}

// env is a project, a log store and one or more servers sharing a
// database.
type env struct {
	t       *testing.T
	dsn     string
	logs    *logstore.Store
	repo    *enginetest.Repo
	proj    *ci.Project
	token   string
	servers []*server
}

type options struct {
	yaml         string
	servers      int
	pollTimeout  time.Duration
	lostAfter    time.Duration
	missingGrace time.Duration
	// imageAffinity is Config.ImageAffinity (0: disabled in tests).
	imageAffinity time.Duration
	// blobs holds the caches (nil: none).
	blobs blob.Store
	// reports is Config.Reports (0: its default).
	reports int
}

func newEnv(t *testing.T, dialect string, o options) *env {
	t.Helper()
	if o.yaml == "" {
		o.yaml = twoBlocksYAML
	}
	if o.servers == 0 {
		o.servers = 1
	}
	if o.pollTimeout == 0 {
		o.pollTimeout = 5 * time.Second
	}
	e := &env{t: t, dsn: enginetest.NewDSN(t, dialect)}
	logs, err := logstore.Open(filepath.Join(t.TempDir(), "logs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	e.logs = logs
	e.repo = enginetest.NewRepo(t, map[string]string{".semaphore/semaphore.yml": o.yaml})
	repos := repocache.New(filepath.Join(t.TempDir(), "repos"))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // in case the setup fails half-way
	var wg sync.WaitGroup
	for i := range o.servers {
		db := enginetest.Open(t, e.dsn)
		if i == 0 {
			e.proj = enginetest.CreateProject(t, db, "demo", e.repo.Dir)
			e.token = enginetest.AgentToken(t, db, "")
		}
		log := testLogger(t, fmt.Sprintf("server%d", i))
		eng := engine.New(engine.Config{Store: db, Repos: repos, Logs: logs, BaseURL: "http://ci", Logger: log})
		kept := new(atomic.Int64)
		d := dispatch.New(dispatch.Config{
			Store: db, Engine: eng, Logs: logs,
			Metrics:     dispatch.Metrics{LookKept: func() { kept.Add(1) }},
			PollTimeout: o.pollTimeout, LostAfter: o.lostAfter, MissingGrace: o.missingGrace,
			ImageAffinity: cmp.Or(o.imageAffinity, -1),
			Blobs:         o.blobs,
			Reports:       o.reports,
			Logger:        log,
		})
		srv := httptest.NewServer(d.Handler())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Run(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("dispatcher Run: %v", err)
			}
		}()
		e.servers = append(e.servers, &server{db: db, eng: eng, disp: d, srv: srv, kept: kept})
	}
	// Registered after the stores were opened, so it runs before they are
	// closed: stop the dispatchers first (their held polls return), then
	// the HTTP servers.
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, s := range e.servers {
			s.srv.Close()
		}
	})
	// Let Run listen before anything is queued.
	for i, s := range e.servers {
		select {
		case <-s.disp.Listening():
		case <-time.After(10 * time.Second):
			t.Fatalf("dispatcher %d does not listen for notifications", i)
		}
	}
	return e
}

// waitHeld waits until the first server holds a poll of the agent open
// (it found nothing to send and waits for news), or returned() says the
// poll came back.
func (e *env) waitHeld(t *testing.T, agentID string, returned func() bool) {
	t.Helper()
	probe.Eventually(t, 10*time.Second, func() error {
		if e.servers[0].disp.Held(agentID) == 0 && !returned() {
			return fmt.Errorf("no held poll of agent %s", agentID)
		}
		return nil
	})
}

func (e *env) db() *store.DB       { return e.servers[0].db }
func (e *env) eng() *engine.Engine { return e.servers[0].eng }
func (e *env) client(i int) *agentapi.Client {
	return agentapi.NewClient(e.servers[i%len(e.servers)].srv.URL, e.token, nil)
}

// push triggers a workflow and returns its pipeline.
func (e *env) push() *ci.Pipeline {
	e.t.Helper()
	wf, err := e.eng().Trigger(e.t.Context(), engine.TriggerRequest{Project: e.proj, Trigger: ci.TriggerPush, Branch: "main"})
	if err != nil {
		e.t.Fatal(err)
	}
	ps, err := e.db().ListPipelines(e.t.Context(), wf.ID)
	if err != nil || len(ps) != 1 {
		e.t.Fatalf("pipelines: %v", err)
	}
	return ps[0]
}

func (e *env) job(id string) *ci.Job {
	e.t.Helper()
	j, err := e.db().GetJob(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

func (e *env) jobNamed(p *ci.Pipeline, name string) *ci.Job {
	e.t.Helper()
	js, err := e.db().ListJobs(e.t.Context(), p.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, j := range js {
		if j.Name == name {
			return j
		}
	}
	e.t.Fatalf("no job %s", name)
	return nil
}

func register(t *testing.T, c *agentapi.Client, name string, slots int) string {
	t.Helper()
	resp, err := c.Register(t.Context(), agentapi.RegisterRequest{Name: name, Type: "s1-test", Slots: slots, Version: "test", Hostname: name})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if resp.AgentID == "" || resp.PollTimeout == 0 || resp.LostAfter == 0 {
		t.Fatalf("register response %+v", resp)
	}
	return resp.AgentID
}

func testLogger(t *testing.T, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("server", name)
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func chunk(seq int, out string) agentapi.LogChunk {
	ts := ci.Timestamp(time.Now())
	return agentapi.LogChunk{Seq: seq, Events: []ci.Event{
		{Kind: ci.EventCmdStarted, Timestamp: ts, Directive: "echo"},
		{Kind: ci.EventCmdOutput, Timestamp: ts, Output: out},
	}}
}

func TestRegisterPollLogFinish(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{})
		p := e.push()
		c := e.client(0)
		id := register(t, c, "agent-1", 2)
		resp, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Assign) != 1 {
			t.Fatalf("poll = %+v, want one assignment (job a)", resp)
		}
		as := resp.Assign[0]
		if as.Job.Name != "a" || len(as.Job.Commands) != 1 || as.Checkout == nil || as.Checkout.URL != e.proj.RepoURL {
			t.Errorf("assignment = %+v", as)
		}
		j := e.job(as.JobID)
		if j.State != ci.StateRunning || j.AgentID != id {
			t.Errorf("job after claim: %+v", j)
		}

		// Logs: in order, idempotent, gaps refused.
		if ack, err := c.SendLog(t.Context(), as.JobID, chunk(0, "hello\n")); err != nil || ack.Next != 1 {
			t.Fatalf("SendLog 0 = %+v, %v", ack, err)
		}
		if ack, err := c.SendLog(t.Context(), as.JobID, chunk(0, "hello\n")); err != nil || ack.Next != 1 {
			t.Fatalf("SendLog 0 again = %+v, %v", ack, err)
		}
		var gap *agentapi.GapError
		if _, err := c.SendLog(t.Context(), as.JobID, chunk(2, "later\n")); !errors.As(err, &gap) || gap.Next != 1 {
			t.Fatalf("SendLog 2 = %v, want a gap error with next 1", err)
		}
		// Finish is refused until every chunk is stored.
		if err := c.Finish(t.Context(), as.JobID, agentapi.FinishRequest{Result: ci.ResultPassed, Chunks: 2}); !errors.As(err, &gap) || gap.Next != 1 {
			t.Fatalf("Finish with a missing chunk = %v, want a gap error with next 1", err)
		}
		if _, err := c.SendLog(t.Context(), as.JobID, chunk(1, "world\n")); err != nil {
			t.Fatal(err)
		}
		if err := c.Finish(t.Context(), as.JobID, agentapi.FinishRequest{Result: ci.ResultPassed, Chunks: 2}); err != nil {
			t.Fatalf("Finish: %v", err)
		}
		if err := c.Finish(t.Context(), as.JobID, agentapi.FinishRequest{Result: ci.ResultPassed, Chunks: 2}); err != nil {
			t.Errorf("Finish again: %v", err)
		}
		if j := e.job(as.JobID); j.State != ci.StateDone || j.Result != ci.ResultPassed {
			t.Errorf("job after finish: %s/%s", j.State, j.Result)
		}
		info, err := e.logs.Info(as.JobID)
		if err != nil || !info.Sealed || info.Chunks != 2 {
			t.Errorf("log info = %+v, %v", info, err)
		}
		var he *agentapi.HTTPError
		if _, err := c.SendLog(t.Context(), as.JobID, chunk(2, "late\n")); !errors.As(err, &he) || he.Status != http.StatusGone {
			t.Errorf("SendLog after finish = %v, want 410", err)
		}

		// Block B's job is next.
		resp, err = c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 2})
		if err != nil || len(resp.Assign) != 1 || resp.Assign[0].Job.Name != "b" {
			t.Fatalf("second poll = %+v, %v", resp, err)
		}
		b := resp.Assign[0].JobID
		if err := c.Finish(t.Context(), b, agentapi.FinishRequest{Result: ci.ResultFailed, Chunks: 0}); err != nil {
			t.Fatal(err)
		}
		got, err := e.db().GetPipeline(t.Context(), p.ID)
		if err != nil || got.State != ci.StateDone || got.Result != ci.ResultFailed {
			t.Errorf("pipeline = %+v, %v", got, err)
		}
		a, err := e.db().GetAgent(t.Context(), id)
		if err != nil || a.State != ci.AgentConnected || a.Name != "agent-1" || a.Slots != 2 {
			t.Errorf("agent = %+v, %v", a, err)
		}
	})
}

func TestAuthAndErrors(t *testing.T) {
	e := newEnv(t, store.SQLite, options{})
	url := e.servers[0].srv.URL + agentapi.Prefix
	post := func(path, token, body string) (int, agentapi.Error) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Token "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var msg agentapi.Error
		json.NewDecoder(resp.Body).Decode(&msg)
		return resp.StatusCode, msg
	}
	gpuToken := enginetest.AgentToken(t, e.db(), "s1-gpu")
	const apiToken = "an-api-token"
	sum := sha256.Sum256([]byte(apiToken))
	if err := e.db().Tx(t.Context(), func(tx *store.Tx) error {
		return tx.CreateToken(&store.Token{Name: "api", Hash: hex.EncodeToString(sum[:]), Kind: store.TokenAPI})
	}); err != nil {
		t.Fatal(err)
	}
	reg := e.client(0)
	register(t, reg, "agent-1", 1)
	cred := reg.Credential()
	if !strings.HasPrefix(cred, agentapi.CredentialPrefix) {
		t.Fatalf("credential %q, want %s...", cred, agentapi.CredentialPrefix)
	}
	for _, tc := range []struct {
		name, path, token, body string
		want                    int
	}{
		{"no token", "/register", "", `{"type":"s1-test"}`, http.StatusUnauthorized},
		{"bad token", "/register", "nope", `{"type":"s1-test"}`, http.StatusUnauthorized},
		{"wrong type", "/register", gpuToken, `{"type":"s1-test"}`, http.StatusForbidden},
		{"API token", "/register", apiToken, `{"type":"s1-test"}`, http.StatusForbidden},
		{"bad JSON", "/register", e.token, `{`, http.StatusBadRequest},
		{"no type", "/register", e.token, `{}`, http.StatusBadRequest},
		{"credential registers", "/register", cred, `{"type":"s1-test"}`, http.StatusUnauthorized},
		{"agent token polls", "/poll", e.token, `{}`, http.StatusUnauthorized},
		{"agent token logs", "/jobs/nope/logs", e.token, `{"seq":0}`, http.StatusUnauthorized},
		{"agent token finishes", "/jobs/nope/finish", e.token, `{"result":"passed"}`, http.StatusUnauthorized},
		{"agent token disconnects", "/disconnect", e.token, `{}`, http.StatusUnauthorized},
		{"bad credential", "/poll", agentapi.CredentialPrefix + "nope", `{}`, http.StatusUnauthorized},
		{"unknown job logs", "/jobs/nope/logs", cred, `{"seq":0}`, http.StatusNotFound},
		{"unknown job finish", "/jobs/nope/finish", cred, `{"result":"passed"}`, http.StatusNotFound},
		{"bad result", "/jobs/nope/finish", cred, `{"result":"great"}`, http.StatusBadRequest},
		{"other agent disconnect", "/disconnect", cred, `{"agent_id":"nope"}`, http.StatusForbidden},
		{"too large", "/poll", cred, `{"agent_id":"` + strings.Repeat("x", 2<<20) + `"}`, http.StatusRequestEntityTooLarge},
		{"unknown endpoint", "/nope", e.token, `{}`, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := post(tc.path, tc.token, tc.body)
			if code != tc.want || msg.Message == "" {
				t.Errorf("status %d %q, want %d with a message", code, msg.Message, tc.want)
			}
		})
	}
	t.Run("wrong method", func(t *testing.T) {
		resp, err := http.Get(url + "/poll")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("GET /poll: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("typed token", func(t *testing.T) {
		c := agentapi.NewClient(e.servers[0].srv.URL, gpuToken, nil)
		resp, err := c.Register(t.Context(), agentapi.RegisterRequest{Name: "gpu"})
		if err != nil {
			t.Fatalf("register with the token's type: %v", err)
		}
		a, err := e.db().GetAgent(t.Context(), resp.AgentID)
		if err != nil || a.Type != "s1-gpu" {
			t.Errorf("agent = %+v, %v", a, err)
		}
	})
	t.Run("unknown agent polls", func(t *testing.T) {
		c := e.client(0)
		c.SetCredential(agentapi.CredentialPrefix + "forgotten")
		_, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: "forgotten", FreeSlots: 1})
		var he *agentapi.HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
			t.Errorf("poll error = %v; want 401 (register again)", err)
		}
	})
}

func TestPollWakeUp(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{pollTimeout: 10 * time.Second})
		p := e.push()
		c1, c2 := e.client(0), e.client(0)
		id1 := register(t, c1, "agent-1", 1)
		id2 := register(t, c2, "agent-2", 1)
		resp, err := c1.Poll(t.Context(), agentapi.PollRequest{AgentID: id1, FreeSlots: 1})
		if err != nil || len(resp.Assign) != 1 {
			t.Fatalf("poll = %+v, %v", resp, err)
		}
		a := resp.Assign[0].JobID

		// agent-2 waits; the job of block B is queued when a finishes.
		type result struct {
			resp *agentapi.PollResponse
			err  error
			at   time.Time
		}
		done := make(chan result, 1)
		go func() {
			resp, err := c2.Poll(context.Background(), agentapi.PollRequest{AgentID: id2, FreeSlots: 1})
			done <- result{resp, err, time.Now()}
		}()
		e.waitHeld(t, id2, func() bool { return len(done) > 0 })
		select {
		case r := <-done:
			t.Fatalf("poll returned early: %+v, %v", r.resp, r.err)
		default:
		}
		start := time.Now()
		if err := e.eng().JobFinished(t.Context(), a, ci.ResultPassed, ""); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil || len(r.resp.Assign) != 1 {
			t.Fatalf("poll = %+v, %v", r.resp, r.err)
		}
		latency := r.at.Sub(start)
		t.Logf("job of block B delivered %v after block A finished", latency)
		if latency > wakeLimit {
			t.Errorf("wake-up latency %v, want < %v", latency, wakeLimit)
		}
		if got := e.jobNamed(p, "b"); got.AgentID != id2 {
			t.Errorf("b runs on %q, want agent-2", got.AgentID)
		}
	})
}

func TestCancelDelivery(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{pollTimeout: 2 * time.Second})
		e.push()
		c := e.client(0)
		id := register(t, c, "agent-1", 1)
		resp, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 1})
		if err != nil || len(resp.Assign) != 1 {
			t.Fatalf("poll = %+v, %v", resp, err)
		}
		job := resp.Assign[0].JobID
		done := make(chan *agentapi.PollResponse, 1)
		go func() {
			resp, err := c.Poll(context.Background(), agentapi.PollRequest{AgentID: id, FreeSlots: 0, Running: []string{job}})
			if err != nil {
				t.Error(err)
			}
			done <- resp
		}()
		e.waitHeld(t, id, func() bool { return len(done) > 0 })
		start := time.Now()
		if err := e.eng().StopJob(t.Context(), job); err != nil {
			t.Fatal(err)
		}
		resp = <-done
		if len(resp.Cancel) != 1 || resp.Cancel[0].JobID != job || resp.Cancel[0].Reason != ci.ReasonUser {
			t.Fatalf("poll = %+v, want the cancel of %s", resp, job)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("cancel delivered after %v", d)
		}
		// Delivered once: the next poll waits (here: until its timeout).
		resp, err = c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 0, Running: []string{job}})
		if err != nil || len(resp.Cancel) != 0 {
			t.Errorf("next poll = %+v, %v; want nothing", resp, err)
		}
		if err := c.Finish(t.Context(), job, agentapi.FinishRequest{Result: ci.ResultStopped}); err != nil {
			t.Fatal(err)
		}
		if j := e.job(job); j.Result != ci.ResultStopped || j.Reason != ci.ReasonUser {
			t.Errorf("job %s/%s", j.Result, j.Reason)
		}
	})
}

func TestAgentLost(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{lostAfter: 300 * time.Millisecond, pollTimeout: 2 * time.Second})
		p := e.push()
		c := e.client(0)
		id := register(t, c, "agent-1", 1)
		// A waiting poll keeps the agent alive beyond LostAfter.
		otherClient := e.client(0)
		other := register(t, otherClient, "agent-2", 1)
		resp, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 1})
		if err != nil || len(resp.Assign) != 1 {
			t.Fatalf("poll = %+v, %v", resp, err)
		}
		job := resp.Assign[0].JobID
		if _, err := c.SendLog(t.Context(), job, chunk(0, "working\n")); err != nil {
			t.Fatal(err)
		}
		held := make(chan error, 1)
		go func() {
			_, err := otherClient.Poll(context.Background(), agentapi.PollRequest{AgentID: other, FreeSlots: 0})
			held <- err
		}()
		// agent-1 goes silent.
		probe.Eventually(t, 10*time.Second, func() error {
			if st := e.job(job).State; st != ci.StateDone {
				return fmt.Errorf("job %s, want it failed", st)
			}
			return nil
		})
		j := e.job(job)
		if j.Result != ci.ResultFailed || j.Reason != ci.ReasonAgentLost {
			t.Errorf("job %s/%s, want failed/agent_lost", j.Result, j.Reason)
		}
		a, _ := e.db().GetAgent(t.Context(), id)
		if a.State != ci.AgentLost {
			t.Errorf("agent-1 is %s, want lost", a.State)
		}
		if b, _ := e.db().GetAgent(t.Context(), other); b.State != ci.AgentConnected {
			t.Errorf("agent-2, whose poll is held, is %s", b.State)
		}
		if err := <-held; err != nil {
			t.Errorf("held poll: %v", err)
		}
		lines, _, err := e.logs.Lines(t.Context(), job, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		for _, l := range lines {
			text.WriteString(l.Text + "\n")
		}
		if !strings.Contains(text.String(), "stopped answering") {
			t.Errorf("log = %q", text.String())
		}
		if got, _ := e.db().GetPipeline(t.Context(), p.ID); got.State != ci.StateDone || got.Result != ci.ResultFailed {
			t.Errorf("pipeline %s/%s", got.State, got.Result)
		}
		// The agent comes back: it is told to drop the job.
		resp, err = c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 0, Running: []string{job}})
		if err != nil || len(resp.Cancel) != 1 || resp.Cancel[0].JobID != job {
			t.Errorf("poll of the returning agent = %+v, %v", resp, err)
		}
		if a, _ := e.db().GetAgent(t.Context(), id); a.State != ci.AgentConnected {
			t.Errorf("returning agent is %s", a.State)
		}
	})
}

// TestFinishOfAJobFailedAsLost: an agent that comes back and reports
// the end of a job the servers failed as lost meanwhile (its log sealed
// with the server's last line) is answered OK through either server,
// whether or not that server handed the job out, and the job stays
// failed.
func TestFinishOfAJobFailedAsLost(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{servers: 2, lostAfter: 300 * time.Millisecond, pollTimeout: 2 * time.Second})
		e.push()
		c := e.client(0)
		reg, err := c.Register(t.Context(), agentapi.RegisterRequest{Name: "agent-1", Type: "s1-test", Slots: 1, Version: "test", Hostname: "agent-1"})
		if err != nil {
			t.Fatal(err)
		}
		viaOther := e.client(1)
		viaOther.SetCredential(reg.Credential)
		resp, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: reg.AgentID, FreeSlots: 1})
		if err != nil || len(resp.Assign) != 1 {
			t.Fatalf("poll = %+v, %v", resp, err)
		}
		job := resp.Assign[0].JobID
		if _, err := c.SendLog(t.Context(), job, chunk(0, "working\n")); err != nil {
			t.Fatal(err)
		}
		probe.Eventually(t, 10*time.Second, func() error {
			if st := e.job(job).State; st != ci.StateDone {
				return fmt.Errorf("job %s, want it failed as lost", st)
			}
			return nil
		})
		for i, c := range []*agentapi.Client{c, viaOther} {
			if err := c.Finish(t.Context(), job, agentapi.FinishRequest{Result: ci.ResultPassed, Chunks: 1}); err != nil {
				t.Errorf("finish through server %d: %v", i, err)
			}
		}
		if j := e.job(job); j.Result != ci.ResultFailed || j.Reason != ci.ReasonAgentLost {
			t.Errorf("job %s/%s, want failed/agent_lost", j.Result, j.Reason)
		}
	})
}

// TestReportsFloodLeavesPollsAlone: while log chunks and results wait
// for their turn (a flood holds every one), a poll is still handed a
// job at once; the chunk is stored when a turn frees.
func TestReportsFloodLeavesPollsAlone(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{reports: 2, yaml: twoJobsYAML})
		e.push()
		c1, c2 := e.client(0), e.client(0)
		id1, id2 := register(t, c1, "agent-1", 1), register(t, c2, "agent-2", 1)
		resp, err := c1.Poll(t.Context(), agentapi.PollRequest{AgentID: id1, FreeSlots: 1})
		if err != nil || len(resp.Assign) != 1 {
			t.Fatalf("first poll = %+v, %v", resp, err)
		}
		job := resp.Assign[0].JobID
		release := e.servers[0].disp.HoldReports()
		released := false
		defer func() {
			if !released {
				release()
			}
		}()
		sent := make(chan error, 1)
		go func() {
			_, err := c1.SendLog(context.Background(), job, chunk(0, "working\n"))
			sent <- err
		}()
		resp, err = c2.Poll(t.Context(), agentapi.PollRequest{AgentID: id2, FreeSlots: 1})
		if err != nil || len(resp.Assign) != 1 {
			t.Fatalf("a poll while reports wait = %+v, %v; want the second job", resp, err)
		}
		select {
		case err := <-sent:
			t.Fatalf("a log chunk was stored without a turn: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		release()
		released = true
		select {
		case err := <-sent:
			if err != nil {
				t.Fatalf("log chunk after its turn came: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the log chunk was not stored once a turn freed")
		}
	})
}

func TestAgentRestartAndDisconnect(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		const yaml = `version: v1.0
name: Two
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    task:
      jobs:
        - name: a
          parallelism: 3
          commands: [echo]
`
		e := newEnv(t, dialect, options{yaml: yaml, pollTimeout: time.Second, missingGrace: time.Millisecond})
		e.push()
		c := e.client(0)
		id := register(t, c, "agent-1", 1)
		take := func() string {
			t.Helper()
			resp, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 1})
			if err != nil || len(resp.Assign) != 1 {
				t.Fatalf("poll = %+v, %v", resp, err)
			}
			return resp.Assign[0].JobID
		}
		wantLost := func(job string) {
			t.Helper()
			if j := e.job(job); j.State != ci.StateDone || j.Result != ci.ResultFailed || j.Reason != ci.ReasonAgentLost {
				t.Errorf("job %s/%s/%s, want done/failed/agent_lost", j.State, j.Result, j.Reason)
			}
		}

		// Re-registration with the same identity: the agent restarted.
		first := take()
		resp, err := c.Register(t.Context(), agentapi.RegisterRequest{AgentID: id, Name: "agent-1", Type: "s1-test", Slots: 1})
		if err != nil || resp.AgentID != id {
			t.Fatalf("re-register = %+v, %v", resp, err)
		}
		wantLost(first)

		// A job the agent stops listing fails after two polls.
		second := take()
		time.Sleep(5 * time.Millisecond)
		if _, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 0}); err != nil {
			t.Fatal(err)
		}
		if j := e.job(second); j.State != ci.StateRunning {
			t.Fatalf("job is %s after one poll without it, want running", j.State)
		}
		if _, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 0}); err != nil {
			t.Fatal(err)
		}
		wantLost(second)

		// A clean disconnect.
		third := take()
		if err := c.Disconnect(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		wantLost(third)
		if a, _ := e.db().GetAgent(t.Context(), id); a.State != ci.AgentGone {
			t.Errorf("agent is %s, want disconnected", a.State)
		}
	})
}

// TestDisconnectedAgentStaysDisconnected: the heartbeat records the
// contact of the agents whose polls ended since its last round, but an
// agent that disconnected since stays disconnected.
func TestDisconnectedAgentStaysDisconnected(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{lostAfter: 600 * time.Millisecond, pollTimeout: 50 * time.Millisecond})
		c := e.client(0)
		id := register(t, c, "agent-1", 1)
		if _, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id}); err != nil {
			t.Fatal(err)
		}
		if err := c.Disconnect(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // heartbeats every LostAfter/3
		if a, err := e.db().GetAgent(t.Context(), id); err != nil || a.State != ci.AgentGone {
			t.Errorf("agent after heartbeats: %+v, %v; want it disconnected", a, err)
		}
	})
}

// TestManyJobsManyAgents runs 200 jobs (four sequential blocks of 50) on
// 4 agents with 2 slots each. On PostgreSQL, two servers share the
// database: agents poll one and report to the other. Every job must run
// exactly once, and no wake-up may be lost: polls are held for 5 minutes,
// so a lost one would stall the run past the test's deadline of 4 (the run
// takes a few seconds; under the race detector on a machine loaded by the
// whole suite it has taken over 80).
func TestManyJobsManyAgents(t *testing.T) {
	const yaml = `version: v1.0
name: Many
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    task:
      jobs:
        - name: a
          parallelism: 50
          commands: [echo]
  - name: B
    task:
      jobs:
        - name: b
          parallelism: 50
          commands: [echo]
  - name: C
    task:
      jobs:
        - name: c
          parallelism: 50
          commands: [echo]
  - name: D
    task:
      jobs:
        - name: d
          parallelism: 50
          commands: [echo]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		servers := 1
		if dialect == store.Postgres {
			servers = 2
		}
		e := newEnv(t, dialect, options{yaml: yaml, servers: servers, pollTimeout: 5 * time.Minute})
		p := e.push()
		ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
		defer cancel()

		var mu sync.Mutex
		assigned := map[string]int{}
		var wg sync.WaitGroup
		for i := range 4 {
			poller, reporter := e.client(i), e.client(i+1)
			id := register(t, poller, fmt.Sprintf("agent-%d", i), 2)
			reporter.SetCredential(poller.Credential()) // the same agent, through another server
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					resp, err := poller.Poll(ctx, agentapi.PollRequest{AgentID: id, FreeSlots: 2})
					if err != nil {
						if ctx.Err() == nil {
							t.Errorf("poll: %v", err)
						}
						return
					}
					for _, as := range resp.Assign {
						mu.Lock()
						assigned[as.JobID]++
						mu.Unlock()
						if _, err := reporter.SendLog(ctx, as.JobID, chunk(0, as.Job.Name+"\n")); err != nil {
							if ctx.Err() == nil {
								t.Errorf("send log: %v", err)
							}
							return
						}
						if err := reporter.Finish(ctx, as.JobID, agentapi.FinishRequest{Result: ci.ResultPassed, Chunks: 1}); err != nil {
							if ctx.Err() == nil {
								t.Errorf("finish: %v", err)
							}
							return
						}
					}
				}
			}()
		}
		start := time.Now()
		for {
			got, err := e.db().GetPipeline(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State == ci.StateDone {
				if got.Result != ci.ResultPassed {
					t.Errorf("pipeline %s/%s", got.State, got.Result)
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("pipeline still %s after %v: a wake-up was lost", got.State, time.Since(start))
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%d jobs on %d server(s) in %v", len(assigned), servers, time.Since(start))
		cancel()
		wg.Wait()
		jobs, err := e.db().ListJobs(t.Context(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 200 || len(assigned) != 200 {
			t.Fatalf("%d jobs, %d assigned; want 200", len(jobs), len(assigned))
		}
		for _, j := range jobs {
			if n := assigned[j.ID]; n != 1 {
				t.Errorf("job %s was assigned %d times", j.Name, n)
			}
			if j.State != ci.StateDone || j.Result != ci.ResultPassed {
				t.Errorf("job %s is %s/%s", j.Name, j.State, j.Result)
			}
		}
	})
}

// TestLogBody checks the log endpoint accepts plain JSON as well as gzip.
func TestLogBody(t *testing.T) {
	e := newEnv(t, store.SQLite, options{})
	e.push()
	c := e.client(0)
	id := register(t, c, "agent-1", 1)
	resp, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 1})
	if err != nil || len(resp.Assign) != 1 {
		t.Fatalf("poll = %+v, %v", resp, err)
	}
	body, _ := json.Marshal(chunk(0, "plain\n"))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost,
		e.servers[0].srv.URL+agentapi.Prefix+"/jobs/"+resp.Assign[0].JobID+"/logs", bytes.NewReader(body))
	req.Header.Set("Authorization", "Token "+c.Credential())
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var ack agentapi.LogAck
	if err := json.NewDecoder(r.Body).Decode(&ack); err != nil || r.StatusCode != http.StatusOK || ack.Next != 1 {
		t.Errorf("plain JSON chunk: %d %+v %v", r.StatusCode, ack, err)
	}
}
