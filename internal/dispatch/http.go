package dispatch

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/scheduler"
	"github.com/batonci/baton/internal/store"
)

// Request body limits.
const (
	maxSmallBody = 64 << 10 // register, finish, disconnect
	maxPollBody  = 1 << 20  // a poll lists running jobs
	maxLogBody   = 8 << 20  // a compressed log chunk
	maxLogJSON   = 64 << 20 // the chunk once decompressed
)

func (d *Dispatcher) handler() http.Handler {
	mux := http.NewServeMux()
	p := agentapi.Prefix
	mux.HandleFunc("POST "+p+"/register", d.handleRegister)
	mux.HandleFunc("POST "+p+"/poll", d.handlePoll)
	mux.HandleFunc("POST "+p+"/jobs/{id}/logs", d.handleLogs)
	mux.HandleFunc("POST "+p+"/jobs/{id}/finish", d.handleFinish)
	mux.HandleFunc("POST "+p+"/disconnect", d.handleDisconnect)
	// Debug sessions: the agent dials a stream (an HTTP upgrade) after a
	// poll response asked it to (streams.go).
	mux.HandleFunc("GET "+p+"/streams/{id}", d.handleStream)
	d.cacheRoutes(mux)
	d.routeArtifacts(mux)
	d.routeTestResults(mux)
	d.routeCoverage(mux)
	d.routeLibraries(mux)
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		if knownEndpoint(strings.TrimPrefix(r.URL.Path, p)) {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here: use POST", nil)
			return
		}
		writeError(w, http.StatusNotFound, "no such agent endpoint: "+r.URL.Path, nil)
	})
	return mux
}

// knownEndpoint reports whether path (below the prefix) is an endpoint,
// whatever the method.
func knownEndpoint(path string) bool {
	switch path {
	case "/register", "/poll", "/disconnect":
		return true
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	return len(parts) == 3 && parts[0] == "jobs" && parts[1] != "" && (parts[2] == "logs" || parts[2] == "finish")
}

// httpError is an error with the status it answers.
type httpError struct {
	status int
	msg    string
	next   *int
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// fail answers err: an *httpError as it says, anything else as a 500
// whose details are logged, not shown.
func (d *Dispatcher) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if errors.As(err, &he) {
		writeError(w, he.status, he.msg, he.next)
		return
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the agent went away
	}
	d.log.Error("agent request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error", nil)
}

func writeError(w http.ResponseWriter, status int, msg string, next *int) {
	writeJSON(w, status, agentapi.Error{Message: msg, Next: next})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body of at most limit bytes into v.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body := http.MaxBytesReader(w, r.Body, limit)
	if err := json.NewDecoder(body).Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", limit)
		}
		return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	return nil
}

// bearer returns the secret of a request's `Authorization: Token T` (or
// Bearer T).
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !ok || (!strings.EqualFold(scheme, "Token") && !strings.EqualFold(scheme, "Bearer")) || secret == "" {
		return "", errorf(http.StatusUnauthorized, "missing agent token (Authorization: Token ...)")
	}
	return secret, nil
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// authenticate checks the agent token of a registration: `Authorization:
// Token T`, where sha256(T) in hex is a stored, unrevoked token of kind
// agent.
func (d *Dispatcher) authenticate(r *http.Request) (*store.Token, error) {
	secret, err := bearer(r)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(secret, agentapi.CredentialPrefix) {
		return nil, errorf(http.StatusUnauthorized, "an agent registers with an agent token, not with its credential")
	}
	tok, err := d.db.TokenByHash(r.Context(), hashSecret(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusUnauthorized, "invalid or revoked agent token")
	}
	if err != nil {
		return nil, err
	}
	if tok.Kind != store.TokenAgent {
		return nil, errorf(http.StatusForbidden, "not an agent token")
	}
	return tok, nil
}

// agentCaller is an agent authenticated by its credential.
type agentCaller struct {
	id   string // the agent's
	hash string // of the credential
}

// authenticateAgent checks the credential of a request after
// registration: `Authorization: Token bacr_...`, the credential the agent
// got when it registered. An agent token is refused: it only registers.
// The credential of an agent whose token was revoked is refused, and the
// agent is disconnected (its jobs fail as if it was lost).
func (d *Dispatcher) authenticateAgent(r *http.Request) (*agentCaller, error) {
	secret, err := bearer(r)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(secret, agentapi.CredentialPrefix) {
		return nil, errorf(http.StatusUnauthorized, "an agent token only registers agents: send the credential registration returned (Authorization: Token %s...)", agentapi.CredentialPrefix)
	}
	return d.checkCredential(r.Context(), hashSecret(secret))
}

// checkCredential finds the agent of a credential hash (see
// authenticateAgent): in the credentials the database confirmed less than
// credTTL ago, or else in the database.
func (d *Dispatcher) checkCredential(ctx context.Context, hash string) (*agentCaller, error) {
	now := d.now()
	if id, ok := d.creds.agent(hash, now.Add(-d.credTTL())); ok {
		return &agentCaller{id: id, hash: hash}, nil
	}
	ac, err := d.db.AgentByCredential(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusUnauthorized, "invalid agent credential: register again")
	}
	if err != nil {
		return nil, err
	}
	if ac.TokenRevoked {
		d.revokedAgent(ctx, ac.AgentID)
		return nil, errorf(http.StatusUnauthorized, "the agent token agent %s registered with was revoked", ac.AgentID)
	}
	d.creds.confirm(hash, ac.AgentID, now)
	return &agentCaller{id: ac.AgentID, hash: hash}, nil
}

// recheckCredential checks, during a held poll, that the agent's
// credential still holds; when its token was revoked, the agent is
// disconnected.
func (d *Dispatcher) recheckCredential(ctx context.Context, ac *agentCaller) error {
	now, err := d.checkCredential(ctx, ac.hash)
	if err != nil {
		return err
	}
	if now.id != ac.id {
		return errorf(http.StatusUnauthorized, "invalid agent credential: register again")
	}
	return nil
}

// revokedAgent disconnects an agent whose token was revoked: its
// credential is void and its jobs fail as if it was lost.
func (d *Dispatcher) revokedAgent(ctx context.Context, id string) {
	d.creds.forgetAgent(id)
	d.dropLook(id)
	ctx = context.WithoutCancel(ctx)
	a, err := d.db.GetAgent(ctx, id)
	if err != nil {
		d.log.Error("disconnect an agent of a revoked token", "agent", id, "err", err)
		return
	}
	if a.State == ci.AgentConnected || a.State == ci.AgentDraining {
		if err := d.db.Tx(ctx, func(tx *store.Tx) error {
			if err := tx.SetAgentCredential(a.ID, "", ""); err != nil {
				return err
			}
			return tx.SetAgentState(a.ID, ci.AgentGone)
		}); err != nil {
			d.log.Error("disconnect an agent of a revoked token", "agent", a.ID, "err", err)
			return
		}
		d.log.Info("agent disconnected: its token was revoked", "agent", a.ID, "name", a.Name)
	}
	d.failAgentJobs(ctx, a.ID, "the agent's token was revoked")
}

// newCredential returns a new agent credential and its hash.
func newCredential() (cred, hash string) {
	b := make([]byte, 32)
	rand.Read(b) // never fails
	cred = agentapi.CredentialPrefix + base64.RawURLEncoding.EncodeToString(b)
	return cred, hashSecret(cred)
}

// checkType refuses an agent whose type the token may not serve.
func checkType(tok *store.Token, agentType string) error {
	if tok.AgentType != "" && tok.AgentType != agentType {
		return errorf(http.StatusForbidden, "this token is for agents of type %s, not %s", tok.AgentType, agentType)
	}
	return nil
}

// validID accepts IDs that are safe to store and log.
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func (d *Dispatcher) handleRegister(w http.ResponseWriter, r *http.Request) {
	resp, err := d.register(w, r)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (d *Dispatcher) register(w http.ResponseWriter, r *http.Request) (*agentapi.RegisterResponse, error) {
	tok, err := d.authenticate(r)
	if err != nil {
		return nil, err
	}
	var req agentapi.RegisterRequest
	if err := decode(w, r, maxSmallBody, &req); err != nil {
		return nil, err
	}
	if req.Type == "" {
		req.Type = tok.AgentType
	}
	switch {
	case req.Type == "":
		return nil, errorf(http.StatusBadRequest, "the agent has no type")
	case req.AgentID != "" && !validID(req.AgentID):
		return nil, errorf(http.StatusBadRequest, "invalid agent_id %q", req.AgentID)
	case req.Slots < 0 || req.Slots > 1024:
		return nil, errorf(http.StatusBadRequest, "slots must be between 1 and 1024")
	}
	if err := checkType(tok, req.Type); err != nil {
		return nil, err
	}
	if req.Slots == 0 {
		req.Slots = 1
	}
	if req.Name == "" {
		req.Name = req.Hostname
	}
	id := req.AgentID
	if id != "" {
		// A known agent that registers again has restarted: the jobs it
		// was running died with it. While it is connected, only the agent
		// itself (its credential) may take its ID over.
		old, err := d.db.GetAgent(r.Context(), id)
		switch {
		case err == nil:
			if err := checkType(tok, old.Type); err != nil {
				return nil, err
			}
			if old.State == ci.AgentConnected || old.State == ci.AgentDraining {
				same := false
				if req.Credential != "" {
					if same, err = d.db.AgentCredentialMatches(r.Context(), id, hashSecret(req.Credential)); err != nil {
						return nil, err
					}
				}
				if !same {
					return nil, errorf(http.StatusConflict, "agent %s is connected: an agent ID is registered again only by that agent (with its credential) or once it is lost", id)
				}
			}
			d.failAgentJobs(r.Context(), id, "the agent restarted")
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	} else {
		id = ids.New()
	}
	a := &ci.Agent{
		ID:        id,
		Name:      req.Name,
		Type:      req.Type,
		Slots:     req.Slots,
		Version:   req.Version,
		Hostname:  req.Hostname,
		State:     ci.AgentConnected,
		Executors: req.Executors,
		LastSeen:  d.now(),
	}
	cred, credHash := newCredential()
	if err := d.db.Tx(r.Context(), func(tx *store.Tx) error {
		if err := tx.UpsertAgent(a); err != nil {
			return err
		}
		if err := tx.SetAgentHostKey(a.ID, req.SSHHostKey); err != nil {
			return err
		}
		return tx.SetAgentCredential(a.ID, credHash, tok.ID)
	}); err != nil {
		return nil, err
	}
	if err := d.db.NoteTokenUse(r.Context(), tok, d.now()); err != nil {
		d.log.Warn("note the use of an agent token", "token", tok.ID, "err", err)
	}
	d.creds.forgetAgent(id) // its previous credential is void
	d.dropLook(id)
	d.log.Info("agent registered", "agent", id, "name", a.Name, "type", a.Type, "slots", a.Slots)
	return &agentapi.RegisterResponse{
		AgentID:     id,
		Credential:  cred,
		PollTimeout: agentapi.Ms(d.cfg.PollTimeout),
		LostAfter:   agentapi.Ms(d.cfg.LostAfter),
	}, nil
}

func (d *Dispatcher) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	ac, err := d.authenticateAgent(r)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	var req agentapi.DisconnectRequest
	if err := decode(w, r, maxSmallBody, &req); err != nil {
		d.fail(w, r, err)
		return
	}
	if req.AgentID != "" && req.AgentID != ac.id {
		d.fail(w, r, errorf(http.StatusForbidden, "this credential is agent %s's, not agent %s's", ac.id, req.AgentID))
		return
	}
	a, err := d.db.GetAgent(r.Context(), ac.id)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if err := d.db.Tx(r.Context(), func(tx *store.Tx) error {
		return tx.SetAgentState(a.ID, ci.AgentGone)
	}); err != nil {
		d.fail(w, r, err)
		return
	}
	d.failAgentJobs(r.Context(), a.ID, "the agent disconnected")
	d.log.Info("agent disconnected", "agent", a.ID, "name", a.Name)
	writeJSON(w, http.StatusOK, struct{}{})
}

// jobFor reads a job an agent reports about and checks it is assigned to
// that agent.
func (d *Dispatcher) jobFor(r *http.Request, ac *agentCaller) (*ci.Job, error) {
	id := r.PathValue("id")
	j, err := d.db.GetJobLite(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "unknown job %q", id)
	}
	if err != nil {
		return nil, err
	}
	if j.AgentID == "" {
		return nil, errorf(http.StatusConflict, "job %s is not assigned to an agent", id)
	}
	if j.AgentID != ac.id {
		return nil, errorf(http.StatusForbidden, "job %s is not assigned to agent %s", id, ac.id)
	}
	return j, nil
}

func (d *Dispatcher) handleLogs(w http.ResponseWriter, r *http.Request) {
	ack, err := d.logs(w, r)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ack)
}

func (d *Dispatcher) logs(w http.ResponseWriter, r *http.Request) (*agentapi.LogAck, error) {
	ac, err := d.authenticateAgent(r)
	if err != nil {
		return nil, err
	}
	// A job this server handed to the agent is the agent's for good; any
	// other is read and checked.
	jobID := r.PathValue("id")
	if !d.handedOutTo(jobID, ac.id) {
		j, err := d.jobFor(r, ac)
		if err != nil {
			return nil, err
		}
		jobID = j.ID
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, maxLogBody)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "invalid gzip body: %v", err)
		}
		defer zr.Close()
		body = io.LimitReader(zr, maxLogJSON+1)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "log chunk larger than %d bytes", maxLogBody)
		}
		return nil, errorf(http.StatusBadRequest, "read log chunk: %v", err)
	}
	if len(data) > maxLogJSON {
		return nil, errorf(http.StatusRequestEntityTooLarge, "log chunk larger than %d bytes once decompressed", maxLogJSON)
	}
	var chunk agentapi.LogChunk
	if err := json.Unmarshal(data, &chunk); err != nil {
		return nil, errorf(http.StatusBadRequest, "invalid log chunk: %v", err)
	}
	if chunk.Seq < 0 {
		return nil, errorf(http.StatusBadRequest, "negative log chunk seq %d", chunk.Seq)
	}
	done, err := d.report(r.Context())
	if err != nil {
		return nil, err
	}
	defer done()
	next, err := d.cfg.Logs.AppendAck(r.Context(), jobID, logstore.Chunk{Seq: chunk.Seq, Events: chunk.Events})
	var gap *logstore.GapError
	switch {
	case errors.As(err, &gap):
		return nil, outOfOrder(chunk.Seq, gap)
	case errors.Is(err, logstore.ErrSealed):
		return nil, errorf(http.StatusGone, "job %s is finished: its log is closed", jobID)
	case errors.Is(err, logstore.ErrInvalidJobID):
		return nil, errorf(http.StatusBadRequest, "invalid job id")
	case err != nil:
		return nil, err
	}
	if d.cfg.Metrics.LogBytes != nil {
		d.cfg.Metrics.LogBytes(len(data))
	}
	return &agentapi.LogAck{Next: next}, nil
}

// outOfOrder is the answer to log chunk seq when the log expects another
// next: a conflict naming the chunk to send.
func outOfOrder(seq int, gap *logstore.GapError) *httpError {
	next := gap.Want
	return &httpError{status: http.StatusConflict, msg: fmt.Sprintf("log chunk %d is out of order: send %d next", seq, next), next: &next}
}

func (d *Dispatcher) handleFinish(w http.ResponseWriter, r *http.Request) {
	if err := d.finish(w, r); err != nil {
		d.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (d *Dispatcher) finish(w http.ResponseWriter, r *http.Request) error {
	ac, err := d.authenticateAgent(r)
	if err != nil {
		return err
	}
	var req agentapi.FinishRequest
	if err := decode(w, r, maxSmallBody, &req); err != nil {
		return err
	}
	switch req.Result {
	case ci.ResultPassed, ci.ResultFailed, ci.ResultStopped:
	default:
		return errorf(http.StatusBadRequest, "result must be passed, failed or stopped, not %q", req.Result)
	}
	if req.Last != nil && req.Last.Seq != req.Chunks-1 {
		return errorf(http.StatusBadRequest, "the last log chunk is chunk %d of %d, not %d", req.Chunks-1, req.Chunks, req.Last.Seq)
	}
	done, err := d.report(r.Context())
	if err != nil {
		return err
	}
	defer done()
	// A job this server handed to the agent is not read first: if the
	// seal finds its log sealed already, the job is read then.
	j, handed := d.handedOutJob(r.PathValue("id"), ac.id)
	if !handed {
		if j, err = d.jobFor(r, ac); err != nil {
			return err
		}
	}
	if j.State == ci.StateDone {
		d.forget(j.ID)
		return nil // already recorded (or failed as lost): nothing to do
	}
	// The log is sealed only if it holds every chunk the agent reports;
	// the last chunk, sent with the result, is stored first, as if it
	// came on its own (with the seal, in one exchange with a shared log).
	var count *logstore.CountError
	if req.Last != nil {
		err = d.cfg.Logs.SealWith(r.Context(), j.ID, logstore.Chunk{Seq: req.Last.Seq, Events: req.Last.Events})
		var gap *logstore.GapError
		if errors.As(err, &gap) {
			return outOfOrder(req.Last.Seq, gap)
		}
		if err == nil && d.cfg.Metrics.LogBytes != nil {
			d.cfg.Metrics.LogBytes(int(max(r.ContentLength, 0)))
		}
	} else {
		err = d.cfg.Logs.SealAt(j.ID, req.Chunks)
	}
	if handed && errors.As(err, &count) {
		// Failed as lost meanwhile, its log sealed by the server?
		cur, err := d.jobFor(r, ac)
		if err != nil {
			return err
		}
		if cur.State == ci.StateDone {
			d.forget(cur.ID)
			return nil
		}
	}
	if errors.As(err, &count) {
		next := count.Have
		return &httpError{status: http.StatusConflict, msg: fmt.Sprintf("the server has %d log chunks of job %s, the agent reports %d: send chunk %d next", next, j.ID, req.Chunks, next), next: &next}
	} else if err != nil {
		return err
	}
	if err := d.eng.FinishJob(r.Context(), j, req.Result, req.Reason); err != nil {
		return err
	}
	d.forget(j.ID)
	return nil
}

func (d *Dispatcher) handlePoll(w http.ResponseWriter, r *http.Request) {
	resp, err := d.poll(w, r)
	// Answered on a fresh stack too: the connection's goroutine carries
	// the agent's next poll.
	onFreshStack(func() {
		if err != nil {
			d.fail(w, r, err)
			return
		}
		if resp == nil {
			return // the agent went away
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

// onFreshStack runs f on a goroutine of its own and waits for it to end
// (a panic in f goes on in the caller). A held poll parks its
// connection's goroutine for up to PollTimeout, and a goroutine's stack
// stays as large as its deepest call until a garbage collection shrinks
// it: the database and JSON calls of a poll grew it to 16-32 KiB, a
// thousand times over with a thousand agents. Run on a goroutine that
// ends before the poll parks, they leave the parked stack small.
func onFreshStack(f func()) {
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		f()
	}()
	if p := <-done; p != nil {
		panic(p)
	}
}

// poll answers a long poll: at once if there is something for the agent,
// otherwise when a notification brings something, the claimer hands it
// jobs, or PollTimeout passes. Its work runs on fresh stacks
// (onFreshStack); only the wait runs on the connection's goroutine.
func (d *Dispatcher) poll(w http.ResponseWriter, r *http.Request) (*agentapi.PollResponse, error) {
	ctx := r.Context()
	arrived := d.now()
	var (
		ac   *agentCaller
		wt   *waiter
		a    *ci.Agent
		jobs []*ci.Job
		req  agentapi.PollRequest
		err  error
	)
	onFreshStack(func() { ac, wt, a, jobs, err = d.openPoll(w, r, &req) })
	if wt != nil {
		defer d.unsubscribe(wt)
	}
	if err != nil {
		return nil, err
	}

	timeout := time.NewTimer(d.cfg.PollTimeout)
	defer timeout.Stop()
	first := true
	recheck := time.NewTimer(time.Hour)
	defer recheck.Stop()
	// wish is the poll's want of jobs, left with the claimer while the
	// poll waits; whatever ends the poll takes it back first.
	var wish *want
	defer func() {
		if wish != nil {
			onFreshStack(func() { d.dropWant(a, wish) })
		}
	}()
	for {
		var (
			resp *agentapi.PollResponse
			look look
			ends bool
		)
		onFreshStack(func() {
			if !first { // the first look has the jobs openPoll read
				if _, jobs, err = d.db.AgentPoll(ctx, a.ID); err != nil {
					return
				}
			}
			resp, look, err = d.collect(ctx, a, jobs, &req, first, arrived)
			if err != nil {
				return
			}
			news := len(resp.Cancel) > 0 || len(resp.Streams) > 0 || resp.Reregister
			if wish != nil && (news || look.free != wish.n || !slices.Equal(look.skip, wish.claim.Skip)) {
				resp.Assign = d.takeBack(ctx, a, wish)
				wish = nil
			}
			ends = news || len(resp.Assign) > 0
		})
		if err != nil {
			return nil, err
		}
		if ends {
			return resp, nil
		}
		first = false
		if wish == nil && look.free > 0 {
			wish = d.claims.add(ctx, a.ID, store.Claim{MachineType: a.Type, Docker: slices.Contains(a.Executors, "docker"), Skip: look.skip}, look.free)
		}
		// A job left to an agent holding its images is looked at again
		// when the grace window ends.
		recheck.Reset(time.Hour)
		if !look.until.IsZero() {
			recheck.Reset(max(look.until.Sub(d.now()), time.Millisecond))
		}
		wt.held.Store(true)
		var handed <-chan claimed
		if wish != nil {
			handed = wish.done
		}
		select {
		case got := <-handed:
			wish = nil
			if got.err != nil {
				return nil, got.err
			}
			if len(got.jobs) == 0 { // the server stops
				return &agentapi.PollResponse{}, nil
			}
			var as []agentapi.Assignment
			onFreshStack(func() { as = d.start(ctx, a, got) })
			if len(as) > 0 {
				return &agentapi.PollResponse{Assign: as}, nil
			}
			// None could start: want others.
		case <-recheck.C:
		case <-wt.ch:
			// Woken (also when the agent's token was revoked): the
			// credential must still hold.
			if onFreshStack(func() { err = d.recheckCredential(ctx, ac) }); err != nil {
				return nil, err
			}
		case <-timeout.C:
			if wish != nil {
				var as []agentapi.Assignment
				onFreshStack(func() { as = d.takeBack(ctx, a, wish) })
				wish = nil
				return &agentapi.PollResponse{Assign: as}, nil
			}
			return &agentapi.PollResponse{}, nil
		case <-d.stopping:
			return &agentapi.PollResponse{}, nil
		case <-ctx.Done():
			return nil, nil
		}
	}
}

// openPoll authenticates a poll, subscribes it (wt is set from then on,
// whatever the error) and reads its request, its agent and the jobs the
// agent runs (one query).
func (d *Dispatcher) openPoll(w http.ResponseWriter, r *http.Request, req *agentapi.PollRequest) (ac *agentCaller, wt *waiter, a *ci.Agent, jobs []*ci.Job, err error) {
	ctx := r.Context()
	ac, err = d.authenticateAgent(r)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// Registered before anything waits for the database: the heartbeat
	// counts the poll as contact, and news for the agent wakes it.
	wt = d.subscribe(ac.id, ac.hash)
	if err := decode(w, r, maxPollBody, req); err != nil {
		return ac, wt, nil, nil, err
	}
	if req.AgentID != "" && req.AgentID != ac.id {
		return ac, wt, nil, nil, errorf(http.StatusForbidden, "this credential is agent %s's, not agent %s's", ac.id, req.AgentID)
	}
	a, jobs, news, err := d.lookAgent(ctx, ac.id, req.Running)
	if err != nil {
		return ac, wt, nil, nil, err
	}
	defer func() {
		if err == nil {
			d.keepLook(a, news)
		}
	}()
	if err := d.touch(ctx, a, req.Draining); err != nil {
		return ac, wt, nil, nil, err
	}
	if (len(req.Images) > 0 || req.ImagesKnown) && !slices.Equal(req.Images, a.Images) {
		if err := d.db.Tx(ctx, func(tx *store.Tx) error { return tx.SetAgentImages(a.ID, req.Images) }); err != nil {
			return ac, wt, nil, nil, err
		}
		a.Images = req.Images
	}
	if req.ImagePruning != nil && !samePruning(req.ImagePruning, a.ImagePruning) {
		if err := d.db.Tx(ctx, func(tx *store.Tx) error { return tx.SetAgentImagePruning(a.ID, req.ImagePruning) }); err != nil {
			return ac, wt, nil, nil, err
		}
		a.ImagePruning = req.ImagePruning
	}
	return ac, wt, a, jobs, nil
}

// takeBack withdraws a poll's want; if the claimer already took it, the
// jobs it claims are started and returned, to go out with the poll.
func (d *Dispatcher) takeBack(ctx context.Context, a *ci.Agent, wish *want) []agentapi.Assignment {
	if d.claims.withdraw(wish) {
		return nil
	}
	got := <-wish.done
	if got.err != nil {
		return nil
	}
	return d.start(ctx, a, got)
}

// dropWant withdraws the want of a poll that ends without answering (its
// agent went away, or an error): jobs the claimer already claimed for it
// go back to the queue, since the agent never gets them.
func (d *Dispatcher) dropWant(a *ci.Agent, wish *want) {
	if d.claims.withdraw(wish) {
		return
	}
	got := <-wish.done
	if len(got.jobs) == 0 {
		return
	}
	ctx := context.WithoutCancel(wish.ctx)
	err := d.db.Tx(ctx, func(tx *store.Tx) error {
		for _, j := range got.jobs {
			if _, err := tx.ReleaseJob(j.ID, a.ID); err != nil {
				return err
			}
		}
		return tx.Notify(engine.ChannelJobs, a.Type)
	})
	if err != nil {
		// The jobs stay the agent's: its next polls do not list them,
		// and they fail as agent_lost (reconcile).
		d.log.Error("put back jobs claimed for a poll that went away", "agent", a.ID, "err", err)
		return
	}
	d.log.Info("jobs claimed for a poll that went away are queued again", "agent", a.ID, "jobs", len(got.jobs))
}

// touch records contact with an agent and its draining wish. The
// contact of a connected agent is recorded by the heartbeat's next round,
// with the agents whose polls are held (see Dispatcher.heartbeat): a poll
// writes it only when the agent was seen more than LostAfter/2 ago (it
// was silent, or the heartbeat falls behind), so that it never looks
// silent for LostAfter while it polls.
func (d *Dispatcher) touch(ctx context.Context, a *ci.Agent, draining bool) (err error) {
	if !draining && a.State == ci.AgentConnected && d.now().Sub(a.LastSeen) < d.cfg.LostAfter/2 {
		return nil
	}
	now := d.now()
	defer func() {
		if err == nil {
			a.LastSeen = now
		}
	}()
	return d.db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.TouchAgent(a.ID, now); err != nil {
			return err
		}
		switch {
		case draining && a.State != ci.AgentDraining:
			a.State = ci.AgentDraining
			return tx.SetAgentState(a.ID, ci.AgentDraining)
		case !draining && a.State == ci.AgentDraining:
			a.State = ci.AgentConnected
			return tx.SetAgentState(a.ID, ci.AgentConnected)
		}
		if a.State != ci.AgentDraining {
			a.State = ci.AgentConnected
		}
		return nil
	})
}

// look is what a poll's look found besides news: how many jobs the
// agent may take, which queued jobs it leaves to others (image affinity)
// and until when.
type look struct {
	free  int
	skip  []string
	until time.Time
}

// collect gathers the news a poll should carry now, given the jobs the
// agent runs (store.DB.AgentPoll): stops to deliver, debug sessions. On
// the first look of a poll it also compares the agent's running jobs with
// the server's (see reconcile). It also says how many jobs the agent may
// take, and which it leaves to others.
func (d *Dispatcher) collect(ctx context.Context, a *ci.Agent, jobs []*ci.Job, req *agentapi.PollRequest, first bool, arrived time.Time) (*agentapi.PollResponse, look, error) {
	resp := &agentapi.PollResponse{}
	var (
		lk  look
		err error
	)
	if first {
		stale, err := d.reconcile(ctx, a, req, jobs, arrived)
		if err != nil {
			return nil, lk, err
		}
		resp.Cancel = append(resp.Cancel, stale...)
	}
	resp.Cancel = append(resp.Cancel, d.cancels(jobs)...)
	// Debug session streams asked of this agent, woken through its
	// waiter like a cancellation; a session is always in a job the agent
	// runs, and is looked for only when one may wait (streams.go).
	if len(jobs) > 0 {
		if resp.Streams, err = d.streamsFor(ctx, a.ID); err != nil {
			return nil, lk, err
		}
	}
	lk.free = req.FreeSlots
	if a.Slots > 0 {
		lk.free = min(lk.free, a.Slots)
	}
	if req.Draining || a.State == ci.AgentDraining {
		lk.free = 0
	}
	if lk.free > 0 {
		if lk.skip, lk.until, err = d.affinity(ctx, a); err != nil {
			return nil, lk, err
		}
	}
	return resp, lk, nil
}

// affinityScan bounds how many queued jobs the image affinity looks at.
const affinityScan = 100

// affinity returns the queued container jobs a Docker agent should leave,
// for now, to an idle agent that holds their images (scheduler.Defer),
// and when that stops.
func (d *Dispatcher) affinity(ctx context.Context, a *ci.Agent) ([]string, time.Time, error) {
	if d.cfg.ImageAffinity < 0 || !slices.Contains(a.Executors, "docker") {
		return nil, time.Time{}, nil
	}
	now := d.now()
	queued, err := d.db.QueuedJobs(ctx, affinityScan)
	if err != nil {
		return nil, time.Time{}, err
	}
	var jobs []scheduler.Job
	for _, j := range queued {
		if !j.NeedsDocker || j.MachineType != a.Type || now.Sub(j.QueuedAt) >= d.cfg.ImageAffinity {
			continue
		}
		var rj jobspec.Job
		if json.Unmarshal(j.Spec, &rj) != nil {
			continue
		}
		var images []string
		for _, c := range rj.Containers {
			images = append(images, c.Image)
		}
		jobs = append(jobs, scheduler.Job{ID: j.ID, Images: scheduler.Images(images), QueuedAt: j.QueuedAt})
	}
	if len(jobs) == 0 {
		return nil, time.Time{}, nil
	}
	agents, err := d.db.ListAgents(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	var others []scheduler.Agent
	for _, o := range agents {
		if o.ID == a.ID || o.Type != a.Type || o.State != ci.AgentConnected || !slices.Contains(o.Executors, "docker") {
			continue
		}
		idle := len(o.Running) < o.Slots && now.Sub(o.LastSeen) < d.cfg.LostAfter
		others = append(others, scheduler.Agent{ID: o.ID, Images: o.Images, Idle: idle})
	}
	skip, until := scheduler.Defer(scheduler.Agent{ID: a.ID, Images: a.Images}, others, jobs, now, d.cfg.ImageAffinity)
	if len(skip) > 0 {
		d.log.Debug("jobs left to agents that hold their images", "agent", a.ID, "jobs", skip)
	}
	return skip, until, nil
}

// reconcile compares the jobs an agent says it runs with those the server
// thinks it runs. A job the agent lists but should not run (finished,
// failed as lost, unknown) is canceled. A job the server assigned more
// than MissingGrace before a poll arrived that the agent does not list in
// two consecutive polls died with a restart of the agent: it fails as
// agent_lost. The poll's arrival counts, not when the server reads it: a
// poll sent before the job reached the agent (one it gave up on, which
// the server still serves) cannot list it.
func (d *Dispatcher) reconcile(ctx context.Context, a *ci.Agent, req *agentapi.PollRequest, jobs []*ci.Job, arrived time.Time) ([]agentapi.Cancel, error) {
	listed := map[string]bool{}
	for _, id := range req.Running {
		listed[id] = true
	}
	mine := map[string]bool{}
	var lost []string
	d.mu.Lock()
	for _, j := range jobs {
		mine[j.ID] = true
		if listed[j.ID] {
			delete(d.misses, j.ID)
			continue
		}
		if arrived.Sub(j.StartedAt) < d.cfg.MissingGrace {
			continue
		}
		d.misses[j.ID]++
		if d.misses[j.ID] >= 2 {
			lost = append(lost, j.ID)
		}
	}
	d.mu.Unlock()
	for _, id := range lost {
		d.log.Warn("job missing from its agent", "job", id, "agent", a.ID)
		d.loseJob(ctx, id, "the agent no longer runs this job (it restarted)")
	}
	var out []agentapi.Cancel
	for _, id := range req.Running {
		if mine[id] {
			continue
		}
		reason := ci.ReasonAgentLost
		j, err := d.db.GetJob(ctx, id)
		switch {
		case err == nil && j.Reason != ci.ReasonNone:
			reason = j.Reason
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		out = append(out, agentapi.Cancel{JobID: id, Reason: reason})
	}
	return out, nil
}

// cancels returns the stop requests of an agent's jobs not delivered
// recently.
func (d *Dispatcher) cancels(jobs []*ci.Job) []agentapi.Cancel {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []agentapi.Cancel
	for _, j := range jobs {
		if !j.StopRequested {
			continue
		}
		if sent, ok := d.cancelSent[j.ID]; ok && now.Sub(sent) < d.cfg.CancelResend {
			continue
		}
		d.cancelSent[j.ID] = now
		out = append(out, agentapi.Cancel{JobID: j.ID, Reason: j.StopReason})
	}
	return out
}

// start records the start of jobs the claimer claimed for an agent and
// prepares their assignments, with what the claimer read ahead for them
// (got.handouts) if it did. A job that cannot start is failed by the
// engine and has no assignment.
func (d *Dispatcher) start(ctx context.Context, a *ci.Agent, got claimed) []agentapi.Assignment {
	// The jobs are the agent's now; whatever fails below must end them,
	// or they would wait for the agent forever.
	ctx = context.WithoutCancel(ctx)
	var out []agentapi.Assignment
	for _, job := range got.jobs {
		if f := d.cfg.Metrics.JobAssigned; f != nil && !job.QueuedAt.IsZero() {
			f(job.MachineType, job.StartedAt.Sub(job.QueuedAt))
		}
		as, err := d.eng.HandOutRead(ctx, job, got.handouts[job.ID])
		var pe *engine.PrepareError
		switch {
		case errors.As(err, &pe):
			d.log.Info("job cannot start", "job", job.ID, "err", pe.Err)
			continue
		case err != nil:
			d.log.Error("prepare assignment", "job", job.ID, "err", err)
			if err := d.eng.JobFinished(ctx, job.ID, ci.ResultFailed, ci.ReasonInternal); err != nil {
				d.log.Error("fail job", "job", job.ID, "err", err)
			}
			continue
		}
		d.log.Info("job assigned", "job", job.ID, "name", job.Name, "agent", a.ID)
		d.handOut(job, a.ID)
		d.lookHandedOut(a.ID, job)
		out = append(out, as)
	}
	return out
}

// samePruning reports whether two reports of image pruning say the same.
func samePruning(a, b *ci.ImagePruning) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Removed == b.Removed && a.Bytes == b.Bytes && a.LastAt.Equal(b.LastAt) && slices.Equal(a.Last, b.Last)
}
