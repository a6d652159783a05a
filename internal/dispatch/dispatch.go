// Package dispatch is the server side of the agent protocol
// (internal/agentapi): it registers agents, answers their long polls with
// job assignments and cancellations, stores their log chunks and accepts
// their results, and declares agents lost when they stop polling.
//
// Dispatch is event-driven. A poll first looks for news (a stop to
// deliver, a debug session); if there is none it waits for a
// notification: the engine sends "jobs" with a machine type when jobs are
// queued and "cancel" with an agent ID when a running job must stop. Run
// listens for them (across servers on PostgreSQL) and wakes exactly the
// polls concerned, which look again. A poll registers its interest before
// it looks, so a notification that arrives in between is not lost.
//
// A poll with free slots leaves a want with the server's claimer
// (claimer.go), which claims jobs for the waiting polls in batches, as
// they come and as jobs are queued, with store.Tx.ClaimJobs: it never
// gives one job to two agents even when several servers share the
// database. There is no polling interval: a job queued while a poll waits
// is handed out at once, and wakes no other poll.
//
// Agents are authenticated from the credentials the database confirmed
// recently (credentials.go); the heartbeat confirms them again and keeps
// the agents whose requests the server holds from being declared lost.
//
// Debug sessions (streams.go): OpenStream records a pending session and
// wakes the agent's poll the same way ("cancel" with the agent's ID),
// which then reads the agent's pending sessions (it reads them only when
// such a notification says one may wait); the poll carries the stream
// request with the user's keys, the agent dials
// GET /agent/v1/streams/{id}, and its connection is handed to the waiting
// OpenStream, which the API splices to the user's.
package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/store"
)

// Defaults of Config.
const (
	DefaultPollTimeout  = 25 * time.Second
	DefaultLostAfter    = 15 * time.Second
	DefaultMissingGrace = 5 * time.Second
	DefaultCancelResend = 10 * time.Second
	// DefaultImageAffinity is Config.ImageAffinity's default.
	DefaultImageAffinity = 3 * time.Second
)

// Metrics are optional hooks for instrumentation; nil fields are skipped.
type Metrics struct {
	// JobAssigned is called for every job handed to an agent, with how
	// long it was queued.
	JobAssigned func(machineType string, queued time.Duration)
	// AgentLost is called when an agent is declared lost.
	AgentLost func(agentID string)
	// PollWoken is called when a notification wakes a waiting poll.
	PollWoken func()
	// LookKept is called when a poll's first look uses what the server
	// knows of its agent instead of reading it (looks.go).
	LookKept func()
	// LogBytes is called for every log chunk stored, with its size as
	// received (decompressed JSON).
	LogBytes func(n int)
}

// Config configures a Dispatcher.
type Config struct {
	Store  *store.DB
	Engine *engine.Engine
	Logs   *logstore.Store
	// Blobs holds the projects' caches (cache.go); nil means none.
	Blobs blob.Store
	// PollTimeout is how long a poll is held open without news (default
	// 25s).
	PollTimeout time.Duration
	// LostAfter is how long an agent may go without polling before it is
	// declared lost and its jobs fail (default 15s). A poll held open
	// counts as contact.
	LostAfter time.Duration
	// MissingGrace is how long after its assignment a job must be listed
	// by its agent's polls; a job missing from two consecutive polls after
	// that fails as agent_lost (default 5s).
	MissingGrace time.Duration
	// CancelResend is how long after a stop request was delivered it is
	// delivered again if the job still runs (default 10s).
	CancelResend time.Duration
	// ImageAffinity is how long after a container job is queued an agent
	// that lacks its images leaves it to a connected idle agent that holds
	// them (internal/scheduler); default 3s, negative disables it.
	ImageAffinity time.Duration
	// URL is where agents reach this server; debug session streams ask
	// agents to dial it, so that a stream meets its user's connection on
	// the server that holds it.
	URL string
	// StreamTimeout is how long OpenStream waits for an agent to dial a
	// debug session stream (default DefaultStreamTimeout).
	StreamTimeout time.Duration
	// Artifacts keeps the jobs' artifacts (internal/artifact); nil means
	// artifact requests answer 503.
	Artifacts jobsvc.ArtifactStorage
	// Tests keeps the jobs' test reports (testresults.go); nil means
	// report requests answer 503.
	Tests TestReports
	// Coverage keeps the jobs' code coverage (coverage.go); nil means
	// coverage requests answer 503.
	Coverage Coverage
	// Libraries gives jobs the script libraries' files (libraries.go);
	// nil means the server has none.
	Libraries Libraries
	// Reports is how many log chunks and results of jobs are stored at
	// once (default: three fifths of the store's MaxConns); more wait in
	// memory, in the order they came. A flood of them (a thousand agents
	// ending jobs at once, an agent retrying a chunk) then leaves
	// database connections to the polls and the hand-out of jobs. Keep
	// it below the store's connections.
	Reports int
	// Now is the clock; nil means time.Now.
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics Metrics
}

// Dispatcher serves the agent protocol.
type Dispatcher struct {
	cfg Config
	db  *store.DB
	eng *engine.Engine
	log *slog.Logger

	// stopping is closed when Run ends; waiting polls then return.
	stopping chan struct{}
	stopOnce sync.Once
	// listening is closed once Run listens for the engine's
	// notifications.
	listening chan struct{}

	// creds are the credentials the database confirmed recently.
	creds *credentials
	// claims claims jobs for the polls with free slots.
	claims *claimer
	// reports bounds the log chunks and results stored at once (see
	// Config.Reports).
	reports chan struct{}

	mu sync.Mutex
	// byAgent indexes the polls this server serves, from the moment
	// their agent is authenticated.
	byAgent map[string]map[*waiter]struct{}
	// polled holds the agents whose polls ended since the heartbeat's
	// last round, which records their contact.
	polled map[string]struct{}
	// misses counts, per job, the consecutive polls of its agent that did
	// not list it.
	misses map[string]int
	// cancelSent records when a stop request was last delivered, per job.
	cancelSent map[string]time.Time
	// handedOut is, per job this server handed to an agent (start), the
	// agent and what finishing the job needs to know, until its finish:
	// a job's agent never changes once it is handed out (only jobs
	// claimed for a poll that went away before start are released), so
	// a log chunk or the finish of a job listed here needs no read of
	// the job (see maxHandedOut).
	handedOut map[string]handout
	// streams are the debug session streams this server holds the user's
	// end of, by ID, until their agent dials them; streamSent records
	// when each was last delivered in a poll.
	streams    map[string]*pendingStream
	streamSent map[string]time.Time
	// streamsRead holds the agents whose pending debug sessions this
	// server read and found none waiting, since the last notification
	// that could concern them (streams.go).
	streamsRead map[string]bool
	// looks is what the last look of each agent's polls found, and
	// newsCount counts the "cancel" notifications, which make them void
	// (looks.go).
	looks     map[string]*agentLook
	newsCount uint64
}

// waiter is one poll waiting for news.
type waiter struct {
	agentID string
	// credHash is the hash of the credential the poll came with; the
	// heartbeat wakes the poll when it no longer holds.
	credHash string
	ch       chan struct{} // buffered 1: a wake-up is never lost
	// held is set once the poll found nothing to send and waits.
	held atomic.Bool
}

func (w *waiter) wake() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// New returns a dispatcher.
func New(cfg Config) *Dispatcher {
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = DefaultPollTimeout
	}
	if cfg.LostAfter <= 0 {
		cfg.LostAfter = DefaultLostAfter
	}
	if cfg.MissingGrace <= 0 {
		cfg.MissingGrace = DefaultMissingGrace
	}
	if cfg.CancelResend <= 0 {
		cfg.CancelResend = DefaultCancelResend
	}
	if cfg.ImageAffinity == 0 {
		cfg.ImageAffinity = DefaultImageAffinity
	}
	if cfg.StreamTimeout <= 0 {
		cfg.StreamTimeout = DefaultStreamTimeout
	}
	if cfg.Reports <= 0 {
		cfg.Reports = max(1, cfg.Store.MaxConns()*3/5)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{
		cfg:         cfg,
		db:          cfg.Store,
		eng:         cfg.Engine,
		log:         cfg.Logger,
		stopping:    make(chan struct{}),
		listening:   make(chan struct{}),
		creds:       newCredentials(),
		claims:      newClaimer(cfg.Store, cfg.Now, readHandouts(cfg.Engine, cfg.Logger)),
		reports:     make(chan struct{}, cfg.Reports),
		byAgent:     map[string]map[*waiter]struct{}{},
		polled:      map[string]struct{}{},
		misses:      map[string]int{},
		cancelSent:  map[string]time.Time{},
		handedOut:   map[string]handout{},
		streams:     map[string]*pendingStream{},
		streamSent:  map[string]time.Time{},
		streamsRead: map[string]bool{},
		looks:       map[string]*agentLook{},
	}
}

func (d *Dispatcher) now() time.Time { return d.cfg.Now() }

// credTTL is how long a credential the database confirmed is trusted
// without asking again; the heartbeat confirms them every LostAfter/3, so
// an agent's credential stays remembered through two late heartbeats (a
// poll whose credential is not remembered queries the database before it
// counts as contact).
func (d *Dispatcher) credTTL() time.Duration { return d.cfg.LostAfter }

// subscribe registers a poll as soon as its agent is authenticated: from
// then on the heartbeat counts it as contact, however long the poll waits
// for the database, and news for the agent wakes it.
func (d *Dispatcher) subscribe(agentID, credHash string) *waiter {
	w := &waiter{agentID: agentID, credHash: credHash, ch: make(chan struct{}, 1)}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byAgent[agentID] == nil {
		d.byAgent[agentID] = map[*waiter]struct{}{}
	}
	d.byAgent[agentID][w] = struct{}{}
	return w
}

// serving reports whether this server holds a poll of the agent.
func (d *Dispatcher) serving(agentID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.byAgent[agentID]) > 0
}

// Listening is closed once Run listens for the engine's notifications: a
// job queued from then on wakes the polls it concerns.
func (d *Dispatcher) Listening() <-chan struct{} { return d.listening }

// Held counts the polls of an agent that this dispatcher holds open,
// having found nothing to send: news for the agent now wakes them.
func (d *Dispatcher) Held(agentID string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for w := range d.byAgent[agentID] {
		if w.held.Load() {
			n++
		}
	}
	return n
}

func (d *Dispatcher) unsubscribe(w *waiter) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.byAgent[w.agentID], w)
	if len(d.byAgent[w.agentID]) == 0 {
		delete(d.byAgent, w.agentID)
	}
	d.polled[w.agentID] = struct{}{}
}

// wake wakes the polls of an agent (from "cancel").
func (d *Dispatcher) wake(agentID string) {
	d.mu.Lock()
	var ws []*waiter
	for w := range d.byAgent[agentID] {
		ws = append(ws, w)
	}
	d.mu.Unlock()
	for _, w := range ws {
		w.wake()
		if f := d.cfg.Metrics.PollWoken; f != nil {
			f()
		}
	}
}

// Run listens for the engine's notifications and wakes the polls they
// concern, and declares agents lost when they stop polling, until ctx
// ends; then the polls it holds return.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.stopOnce.Do(func() { close(d.stopping) })
	jobs, err := d.db.Listen(ctx, engine.ChannelJobs)
	if err != nil {
		return err
	}
	cancels, err := d.db.Listen(ctx, engine.ChannelCancel)
	if err != nil {
		return err
	}
	close(d.listening)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.watchAgents(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.heartbeats(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.claims.run(ctx)
	}()
	if d.cfg.Blobs != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.sweepCacheEvery(ctx, time.Hour)
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case mt, ok := <-jobs:
			if !ok {
				return ctx.Err()
			}
			d.claims.jobsQueued(mt)
		case id, ok := <-cancels:
			if !ok {
				return ctx.Err()
			}
			if id == "" { // some may have been missed
				d.newsForAll()
				continue
			}
			d.news(id)
		}
	}
}

// heartbeats keeps the agents whose polls this server holds from being
// declared lost by any server: every LostAfter/3 it records them all as
// seen in one statement, and in another the agents whose polls ended
// since the last round (a poll itself writes nothing in the common case:
// see touch), and wakes the polls whose credential no longer holds
// (revoked token, new registration), which then end. The same query
// confirms the credentials remembered (credentials.go), or drops them. A
// thousand agents so cost three statements per period, not one or two
// per agent or poll.
func (d *Dispatcher) heartbeats(ctx context.Context) {
	t := time.NewTicker(max(d.cfg.LostAfter/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := d.heartbeat(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("heartbeat of held polls", "err", err)
		}
	}
}

// heartbeat is one round of heartbeats.
func (d *Dispatcher) heartbeat(ctx context.Context) error {
	now := d.now()
	d.mu.Lock()
	var held, polled []string
	var ws []*waiter
	checked := map[string]bool{}
	for id, set := range d.byAgent {
		held = append(held, id)
		checked[id] = true
		for w := range set {
			ws = append(ws, w)
		}
	}
	for id := range d.polled {
		if !checked[id] {
			polled = append(polled, id)
			checked[id] = true
		}
	}
	clear(d.polled)
	d.mu.Unlock()
	all := slices.Concat(held, polled)
	for _, id := range d.creds.agents(now.Add(-d.credTTL())) {
		if !checked[id] {
			checked[id] = true
			all = append(all, id)
		}
	}
	if len(all) == 0 {
		return nil
	}
	// On a connection of its own: when a thousand agents' requests queue
	// for the pool, their heartbeat must not wait behind them, or another
	// server would see them silent.
	var creds map[string]store.CredentialState
	valid := map[string]string{}
	err := d.db.UrgentTx(ctx, func(tx *store.Tx) (err error) {
		if creds, err = tx.AgentCredentials(all); err != nil {
			return err
		}
		clear(valid)
		for id, c := range creds {
			if !c.TokenRevoked && c.Hash != "" {
				valid[id] = c.Hash
			}
		}
		if ids := alive(held, valid); len(ids) > 0 {
			return tx.TouchAgents(ids, d.now())
		}
		return nil
	})
	if err != nil {
		return err
	}
	// An agent whose poll ended may have disconnected since, on any
	// server: it is not brought back. In a transaction of its own, so
	// that a transaction locks agents in one sorted run and two servers'
	// heartbeats cannot deadlock.
	if ids := alive(polled, valid); len(ids) > 0 {
		if err := d.db.UrgentTx(ctx, func(tx *store.Tx) error { return tx.SeenAgents(ids, d.now()) }); err != nil {
			return err
		}
	}
	d.creds.refresh(checked, valid, now)
	for _, w := range ws {
		if c, ok := creds[w.agentID]; !ok || c.TokenRevoked || c.Hash != w.credHash {
			w.wake() // the poll checks its credential again, and ends
		}
	}
	return nil
}

// alive returns the agents of ids whose credential holds.
func alive(ids []string, valid map[string]string) []string {
	var out []string
	for _, id := range ids {
		if _, ok := valid[id]; ok {
			out = append(out, id)
		}
	}
	return out
}

// watchAgents declares agents lost once they have not been seen for
// LostAfter. It sleeps until the earliest moment an agent can expire.
func (d *Dispatcher) watchAgents(ctx context.Context) {
	timer := time.NewTimer(d.cfg.LostAfter)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next, err := d.CheckLost(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error("check lost agents", "err", err)
		}
		wait := d.cfg.LostAfter
		if !next.IsZero() {
			wait = min(wait, next.Sub(d.now()))
		}
		timer.Reset(max(wait, 10*time.Millisecond))
	}
}

// CheckLost declares lost the agents not seen for LostAfter and fails
// their jobs (agent_lost). It returns when the next agent may expire, zero
// if no agent is connected. Run calls it; tests may call it directly.
func (d *Dispatcher) CheckLost(ctx context.Context) (time.Time, error) {
	now := d.now()
	stale, err := d.db.StaleAgents(ctx, now.Add(-d.cfg.LostAfter))
	if err != nil {
		return time.Time{}, err
	}
	var touch []string
	for _, a := range stale {
		if d.serving(a.ID) {
			// Its request waits in this server: it is not silent.
			touch = append(touch, a.ID)
			continue
		}
		// One conditional update decides: a poll may have touched the
		// agent since, and of several servers noticing the silence only
		// one declares the loss (and writes the jobs' last lines).
		var lost bool
		err := d.db.Tx(ctx, func(tx *store.Tx) (err error) {
			lost, err = tx.MarkAgentLost(a.ID, now.Add(-d.cfg.LostAfter))
			return err
		})
		if err != nil {
			return time.Time{}, err
		}
		if !lost {
			continue
		}
		d.log.Warn("agent lost", "agent", a.ID, "name", a.Name, "last_seen", a.LastSeen)
		if f := d.cfg.Metrics.AgentLost; f != nil {
			f(a.ID)
		}
		d.failAgentJobs(ctx, a.ID, "the agent stopped answering")
	}
	if len(touch) > 0 {
		if err := d.db.UrgentTx(ctx, func(tx *store.Tx) error { return tx.TouchAgents(touch, now) }); err != nil {
			return time.Time{}, err
		}
	}
	agents, err := d.db.ListAgents(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	for _, a := range agents {
		if a.State != ci.AgentConnected && a.State != ci.AgentDraining {
			continue
		}
		t := a.LastSeen.Add(d.cfg.LostAfter)
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next, nil
}

// failAgentJobs fails every job an agent runs, as agent_lost.
func (d *Dispatcher) failAgentJobs(ctx context.Context, agentID, why string) {
	d.dropLook(agentID)
	jobs, err := d.db.AgentJobs(ctx, agentID)
	if err != nil {
		d.log.Error("list agent jobs", "agent", agentID, "err", err)
		return
	}
	for _, j := range jobs {
		d.loseJob(ctx, j.ID, why)
	}
}

// loseJob fails a job whose agent is gone: a last log line says why, the
// log is sealed, and the engine records failed/agent_lost.
func (d *Dispatcher) loseJob(ctx context.Context, jobID, why string) {
	if logs := d.cfg.Logs; logs != nil {
		ts := ci.Timestamp(d.now())
		if err := logs.AppendNext(ctx, jobID, []ci.Event{
			{Kind: ci.EventCmdOutput, Timestamp: ts, Output: "\nBaton: " + why + "; the job is marked failed (agent lost).\n"},
			{Kind: ci.EventJobFinished, Timestamp: ts, Result: ci.ResultFailed, Reason: ci.ReasonAgentLost},
		}); err != nil && !errors.Is(err, logstore.ErrSealed) {
			d.log.Warn("write the last line of a lost job", "job", jobID, "err", err)
		}
		if err := logs.Seal(jobID); err != nil {
			d.log.Warn("seal the log of a lost job", "job", jobID, "err", err)
		}
	}
	if err := d.eng.JobFinished(ctx, jobID, ci.ResultFailed, ci.ReasonAgentLost); err != nil {
		d.log.Error("fail lost job", "job", jobID, "err", err)
	}
	d.forget(jobID)
}

// readHandouts is the claimer's read ahead of what handing a claim's
// jobs out needs: one statement for the claim rather than one per job,
// which for a block of fifty parallel jobs claimed at once by fifty
// agents was fifty statements queued at the same instant. If it fails,
// each poll reads its own.
func readHandouts(eng *engine.Engine, log *slog.Logger) func(context.Context, []*ci.Job) map[string]*engine.Handout {
	if eng == nil {
		return nil
	}
	return func(ctx context.Context, jobs []*ci.Job) map[string]*engine.Handout {
		hs, err := eng.ReadHandouts(ctx, jobs)
		if err != nil {
			log.Warn("read claimed jobs for their hand-out", "jobs", len(jobs), "err", err)
			return nil
		}
		return hs
	}
}

// report waits for a turn to store a log chunk or result (see
// Config.Reports) and returns what ends it, or the context's error.
func (d *Dispatcher) report(ctx context.Context) (done func(), err error) {
	select {
	case d.reports <- struct{}{}:
		return func() { <-d.reports }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// forget drops the per-job bookkeeping of a job that ended.
func (d *Dispatcher) forget(jobID string) {
	d.mu.Lock()
	if h, ok := d.handedOut[jobID]; ok {
		d.lookEnded(h.agent, jobID)
	}
	delete(d.misses, jobID)
	delete(d.cancelSent, jobID)
	delete(d.handedOut, jobID)
	d.mu.Unlock()
}

// maxHandedOut bounds handedOut: the jobs of agents that went away are
// never finished, so once it is full it starts again empty (it only
// spares reads).
const maxHandedOut = 1 << 16

// handOut records that agentID was handed jobID.
func (d *Dispatcher) handOut(job *ci.Job, agentID string) {
	d.mu.Lock()
	if len(d.handedOut) >= maxHandedOut {
		clear(d.handedOut)
	}
	d.handedOut[job.ID] = handout{agent: agentID, pipeline: job.PipelineID, block: job.BlockID}
	d.mu.Unlock()
}

// handout is a job this server handed out: its agent, pipeline and
// block.
type handout struct{ agent, pipeline, block string }

// handedOutTo reports whether this server handed jobID to agentID.
func (d *Dispatcher) handedOutTo(jobID, agentID string) bool {
	_, ok := d.handedOutJob(jobID, agentID)
	return ok
}

// handedOutJob returns the job this server handed to agentID as jobID,
// with the IDs finishing it needs (engine.FinishJob), if it did.
func (d *Dispatcher) handedOutJob(jobID, agentID string) (*ci.Job, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, ok := d.handedOut[jobID]
	if !ok || h.agent != agentID {
		return nil, false
	}
	return &ci.Job{ID: jobID, PipelineID: h.pipeline, BlockID: h.block, AgentID: agentID, State: ci.StateRunning}, true
}

// Handler serves the agent protocol under agentapi.Prefix.
func (d *Dispatcher) Handler() http.Handler {
	return d.handler()
}
