package agent_test

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/google/go-cmp/cmp"
)

const testToken = "test-token"

// fakeServer implements the server side of the agent protocol faithfully,
// in memory: registration, long polls that hand out queued jobs and
// repeat cancellations, sequenced log chunks with gap checks, finish only
// once every chunk is stored, and reconciliation of assignments lost in
// transit (a job a later poll does not list is queued again).
type fakeServer struct {
	t           testing.TB
	pollTimeout time.Duration

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	agents  map[string]*fakeAgent
	nextID  int
	queue   []agentapi.Assignment
	jobs    map[string]*fakeJob
	// registrations, polls and disconnects record what agents sent.
	registrations []agentapi.RegisterRequest
	polls         []agentapi.PollRequest
	disconnects   []string
	versions      map[string]bool // X-Baton-Agent-Version values seen
	// onLog, if set, runs (under mu) before a chunk is stored; it may
	// drop stored chunks to simulate a server that lost them.
	onLog func(j *fakeJob, c agentapi.LogChunk)
	// onFinish, likewise, runs before a finish is checked.
	onFinish func(j *fakeJob, f agentapi.FinishRequest)
	// duplicates counts chunks received again (idempotent resends).
	duplicates int
	// ignoreLast makes the server one that does not take a last chunk
	// sent with a finish (FinishRequest.Last), as servers before it did;
	// lastTaken counts those it took.
	ignoreLast bool
	lastTaken  int
	// credentials are those registration issued, by agent ID; auths
	// counts the Authorization headers of requests after registration
	// (poll, logs, finish, disconnect) by kind ("token", "credential").
	credentials map[string]string
	auths       map[string]int
	// connected lists IDs the server still sees connected: registering
	// one without its credential is refused (409), as the real server does.
	connected map[string]bool
	// cacheStores records the cache stores received, as "job/key".
	cacheStores []string
}

type fakeAgent struct {
	polls int // poll counter, to tell lost assignments
}

type fakeJob struct {
	as         agentapi.Assignment
	agent      string
	assignedIn int // the agent's poll that handed it out
	chunks     []agentapi.LogChunk
	cancel     ci.Reason
	finish     *agentapi.FinishRequest
	assigned   int // times handed out
	done       chan struct{}
}

func newFakeServer(t testing.TB) *fakeServer {
	return &fakeServer{
		t:           t,
		pollTimeout: 2 * time.Second,
		changed:     make(chan struct{}),
		agents:      map[string]*fakeAgent{},
		jobs:        map[string]*fakeJob{},
		versions:    map[string]bool{},
		credentials: map[string]string{},
		auths:       map[string]int{},
	}
}

// broadcast wakes waiting polls and waiters. s.mu must be held.
func (s *fakeServer) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Handler returns the protocol's HTTP handler.
func (s *fakeServer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /agent/v1/register", s.register)
	mux.HandleFunc("POST /agent/v1/poll", s.poll)
	mux.HandleFunc("POST /agent/v1/jobs/{id}/logs", s.logs)
	mux.HandleFunc("POST /agent/v1/jobs/{id}/finish", s.finish)
	mux.HandleFunc("POST /agent/v1/disconnect", s.disconnect)
	mux.HandleFunc("PUT /agent/v1/jobs/{id}/cache/key", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.cacheStores = append(s.cacheStores, r.PathValue("id")+"/"+r.URL.Query().Get("key"))
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, agentapi.CacheStored{Stored: true, Size: n})
	})
	mux.HandleFunc("GET /agent/v1/jobs/{id}/cache/key", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, agentapi.Error{Message: "not found"})
	})
	mux.HandleFunc("GET /agent/v1/jobs/{id}/cache", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []agentapi.CacheEntry{})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The token registers; anything else may also come with a
		// credential registration issued.
		auth := r.Header.Get("Authorization")
		s.mu.Lock()
		kind := ""
		switch {
		case auth == "Token "+testToken:
			kind = "token"
		case strings.HasPrefix(auth, "Token "+agentapi.CredentialPrefix) && r.URL.Path != agentapi.Prefix+"/register":
			for _, c := range s.credentials {
				if auth == "Token "+c {
					kind = "credential"
				}
			}
		}
		if kind != "" && r.URL.Path != agentapi.Prefix+"/register" {
			s.auths[kind]++
		}
		s.versions[r.Header.Get(agentapi.HeaderAgentVersion)] = true
		s.mu.Unlock()
		if kind == "" {
			writeJSON(w, http.StatusUnauthorized, agentapi.Error{Message: "bad agent token"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, agentapi.Error{Message: err.Error()})
			return false
		}
		rd = zr
	}
	if err := json.NewDecoder(rd).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, agentapi.Error{Message: err.Error()})
		return false
	}
	return true
}

func (s *fakeServer) register(w http.ResponseWriter, r *http.Request) {
	var req agentapi.RegisterRequest
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registrations = append(s.registrations, req)
	if s.connected[req.AgentID] && (req.Credential == "" || req.Credential != s.credentials[req.AgentID]) {
		writeJSON(w, http.StatusConflict, agentapi.Error{Message: "agent " + req.AgentID + " is connected"})
		return
	}
	id := req.AgentID
	if id == "" {
		s.nextID++
		id = fmt.Sprintf("agent-%d", s.nextID)
	}
	if s.agents[id] == nil {
		s.agents[id] = &fakeAgent{}
	}
	cred := fmt.Sprintf("%scred-%d", agentapi.CredentialPrefix, len(s.registrations))
	s.credentials[id] = cred
	s.broadcast()
	writeJSON(w, http.StatusOK, agentapi.RegisterResponse{
		AgentID:     id,
		Credential:  cred,
		PollTimeout: agentapi.Ms(s.pollTimeout),
		LostAfter:   agentapi.Ms(15 * time.Second),
	})
}

func (s *fakeServer) poll(w http.ResponseWriter, r *http.Request) {
	var req agentapi.PollRequest
	if !decode(w, r, &req) {
		return
	}
	timeout := time.NewTimer(s.pollTimeout)
	defer timeout.Stop()
	s.mu.Lock()
	s.polls = append(s.polls, req)
	ag := s.agents[req.AgentID]
	if ag == nil {
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, agentapi.PollResponse{Reregister: true})
		return
	}
	ag.polls++
	pollNo := ag.polls
	// Assignments an earlier poll handed out that the agent does not
	// list were lost in transit: queue them again.
	for id, j := range s.jobs {
		if j.agent == req.AgentID && j.finish == nil && j.assignedIn < pollNo && !slices.Contains(req.Running, id) {
			j.agent = ""
			s.queue = append(s.queue, j.as)
		}
	}
	s.broadcast()
	s.mu.Unlock()

	for {
		s.mu.Lock()
		var resp agentapi.PollResponse
		for _, id := range req.Running {
			if j := s.jobs[id]; j != nil && j.cancel != "" && j.finish == nil {
				resp.Cancel = append(resp.Cancel, agentapi.Cancel{JobID: id, Reason: j.cancel})
			}
		}
		for free := req.FreeSlots; !req.Draining && free > 0 && len(s.queue) > 0; free-- {
			as := s.queue[0]
			s.queue = s.queue[1:]
			j := s.jobs[as.JobID]
			j.agent, j.assignedIn = req.AgentID, pollNo
			j.assigned++
			resp.Assign = append(resp.Assign, as)
		}
		changed := s.changed
		s.mu.Unlock()
		if len(resp.Assign) > 0 || len(resp.Cancel) > 0 {
			writeJSON(w, http.StatusOK, resp)
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			writeJSON(w, http.StatusOK, agentapi.PollResponse{})
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (s *fakeServer) logs(w http.ResponseWriter, r *http.Request) {
	var c agentapi.LogChunk
	if !decode(w, r, &c) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[r.PathValue("id")]
	if j == nil {
		writeJSON(w, http.StatusNotFound, agentapi.Error{Message: "no such job"})
		return
	}
	if status, body := s.take(j, c); status != http.StatusOK {
		writeJSON(w, status, body)
		return
	}
	writeJSON(w, http.StatusOK, agentapi.LogAck{Next: len(j.chunks)})
}

// take stores a chunk of j's log, as the real server does; s.mu is held.
// Anything but 200 comes with its answer.
func (s *fakeServer) take(j *fakeJob, c agentapi.LogChunk) (int, any) {
	if s.onLog != nil {
		s.onLog(j, c)
	}
	n := len(j.chunks)
	switch {
	case c.Seq < n:
		s.duplicates++
		first, _ := json.Marshal(j.chunks[c.Seq])
		again, _ := json.Marshal(c)
		if diff := cmp.Diff(string(first), string(again)); diff != "" {
			s.t.Errorf("job %s: chunk %d sent again with other content (-first +again):\n%s", j.as.JobID, c.Seq, diff)
		}
	case c.Seq > n:
		return http.StatusConflict, agentapi.Error{Message: "log gap", Next: &n}
	case j.finish != nil:
		return http.StatusConflict, agentapi.Error{Message: "the job has finished"}
	default:
		j.chunks = append(j.chunks, c)
		s.broadcast()
	}
	return http.StatusOK, nil
}

func (s *fakeServer) finish(w http.ResponseWriter, r *http.Request) {
	var f agentapi.FinishRequest
	if !decode(w, r, &f) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[r.PathValue("id")]
	if j == nil {
		writeJSON(w, http.StatusNotFound, agentapi.Error{Message: "no such job"})
		return
	}
	if s.onFinish != nil {
		s.onFinish(j, f)
	}
	if f.Last != nil && !s.ignoreLast && j.finish == nil {
		if f.Last.Seq != f.Chunks-1 {
			writeJSON(w, http.StatusBadRequest, agentapi.Error{Message: "the last chunk is not the last"})
			return
		}
		if status, body := s.take(j, *f.Last); status != http.StatusOK {
			writeJSON(w, status, body)
			return
		}
		s.lastTaken++
	}
	if n := len(j.chunks); f.Chunks != n {
		writeJSON(w, http.StatusConflict, agentapi.Error{Message: "missing log chunks", Next: &n})
		return
	}
	if j.finish == nil {
		j.finish = &f
		close(j.done)
		s.broadcast()
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *fakeServer) disconnect(w http.ResponseWriter, r *http.Request) {
	var req agentapi.DisconnectRequest
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disconnects = append(s.disconnects, req.AgentID)
	s.broadcast()
	writeJSON(w, http.StatusOK, struct{}{})
}

// enqueue queues a job and returns it.
func (s *fakeServer) enqueue(as agentapi.Assignment) *fakeJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := &fakeJob{as: as, done: make(chan struct{})}
	s.jobs[as.JobID] = j
	s.queue = append(s.queue, as)
	s.broadcast()
	return j
}

// cancel asks the agent running the job to stop it.
func (s *fakeServer) cancel(id string, reason ci.Reason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[id].cancel = reason
	s.broadcast()
}

// waitFor waits until cond (called under s.mu) holds.
func (s *fakeServer) waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := cond()
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// result waits for the job's finish and returns it with its events.
func (s *fakeServer) result(t testing.TB, j *fakeJob, timeout time.Duration) (agentapi.FinishRequest, []ci.Event) {
	t.Helper()
	select {
	case <-j.done:
	case <-time.After(timeout):
		t.Fatalf("job %s did not finish within %v", j.as.JobID, timeout)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var events []ci.Event
	for i, c := range j.chunks {
		if c.Seq != i {
			t.Errorf("chunk %d has Seq %d", i, c.Seq)
		}
		events = append(events, c.Events...)
	}
	return *j.finish, events
}

// outputs returns each command's output, by directive, in order.
func outputs(events []ci.Event) (directives []string, out map[string]string) {
	out = map[string]string{}
	cur := ""
	for _, e := range events {
		switch e.Kind {
		case ci.EventCmdStarted:
			cur = e.Directive
			directives = append(directives, cur)
		case ci.EventCmdOutput:
			out[cur] += e.Output
		}
	}
	return directives, out
}

// flaky makes a handler fail: before handling (a 5xx or a dropped
// connection) or after (the response is lost), with probability p.
type flaky struct {
	h   http.Handler
	mu  sync.Mutex
	rnd *rand.Rand
	p   float64
	// failures counts the failures made, by kind.
	failures map[string]int
}

func newFlaky(h http.Handler, p float64, seed uint64) *flaky {
	return &flaky{h: h, rnd: rand.New(rand.NewPCG(seed, seed)), p: p, failures: map[string]int{}}
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	fail := f.rnd.Float64() < f.p
	kind := f.rnd.IntN(3)
	if r.URL.Path == "/agent/v1/disconnect" {
		fail = false
	}
	if fail {
		f.failures[[]string{"5xx", "drop before", "drop after"}[kind]]++
	}
	f.mu.Unlock()
	switch {
	case !fail:
		f.h.ServeHTTP(w, r)
	case kind == 0:
		writeJSON(w, []int{500, 502, 503}[len(r.URL.Path)%3], agentapi.Error{Message: "flaky"})
	case kind == 1:
		panic(http.ErrAbortHandler)
	default:
		f.h.ServeHTTP(httptest.NewRecorder(), r)
		panic(http.ErrAbortHandler)
	}
}

// memTransport serves requests with a handler in memory, so tests can run
// the agent in a synctest bubble. A handler that panics with
// http.ErrAbortHandler is a dropped connection.
type memTransport struct{ h http.Handler }

func (m memTransport) RoundTrip(r *http.Request) (resp *http.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			resp, err = nil, fmt.Errorf("connection reset by fake peer")
		}
	}()
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	return rec.Result(), nil
}

// lines returns n numbered lines.
func lines(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	return b.String()
}
