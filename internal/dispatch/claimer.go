package dispatch

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/store"
)

// Claim batching. A poll with free slots does not claim jobs itself: it
// leaves a want with the server's claimer and waits. The claimer takes
// the wants in the order they came, claims jobs for up to claimBatch of
// them of one machine type in one transaction (store.Tx.ClaimJobs), and
// hands each its jobs; wants left without one wait for the next
// notification of queued jobs of their type. So a thousand waiting polls
// cost no database connection while they wait, a job queued wakes no
// poll but the one it is handed to, and a thousand polls arriving at
// once cost a transaction per claimBatch of them.
const (
	claimBatch = 100
	// claimRecheck is how long wants of a type that found no job wait
	// for a notification before they look again anyway (a notification
	// may be lost when a listener reconnects).
	claimRecheck = 5 * time.Second
)

// claimer claims jobs for a server's waiting polls.
type claimer struct {
	db  *store.DB
	now func() time.Time
	// read reads ahead, in one go, what handing a claim's jobs out
	// needs (nil, or a nil map, if it cannot: each poll reads its own).
	read func(context.Context, []*ci.Job) map[string]*engine.Handout

	kick chan struct{} // buffered 1

	mu    sync.Mutex
	queue []*want
	// notified counts the notifications of queued jobs per machine
	// type; empty is, per type, when a claim last found fewer jobs than
	// it wanted and notified's count when that claim began. A want born
	// while the type is empty waits for a new notification (or
	// claimRecheck).
	notified map[string]uint64
	empty    map[emptyKey]emptyMark
}

// emptyKey is what a claim that found no job looked for: an agent
// without Docker finding none says nothing of the jobs that need it.
type emptyKey struct {
	machineType string
	docker      bool
}

func keyOf(cl store.Claim) emptyKey { return emptyKey{cl.MachineType, cl.Docker} }

type emptyMark struct {
	gen uint64
	at  time.Time
}

// want is a poll's wish for jobs.
type want struct {
	ctx     context.Context
	agentID string
	claim   store.Claim
	n       int
	// done receives the claim's outcome once the claimer took the want.
	done chan claimed
	// Guarded by claimer.mu.
	taken bool
	tried emptyMark // when it last found no job
}

// claimed is what a want got: jobs (owned by its agent) or an error,
// and what handing the jobs out needs, when the claimer read it (shared
// by the claim's wants: read only).
type claimed struct {
	jobs     []*ci.Job
	handouts map[string]*engine.Handout
	err      error
}

func newClaimer(db *store.DB, now func() time.Time, read func(context.Context, []*ci.Job) map[string]*engine.Handout) *claimer {
	return &claimer{
		db:       db,
		now:      now,
		read:     read,
		kick:     make(chan struct{}, 1),
		notified: map[string]uint64{},
		empty:    map[emptyKey]emptyMark{},
	}
}

func (c *claimer) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// add registers a poll's want of n jobs c allows.
func (c *claimer) add(ctx context.Context, agentID string, cl store.Claim, n int) *want {
	w := &want{ctx: ctx, agentID: agentID, claim: cl, n: n, done: make(chan claimed, 1)}
	c.mu.Lock()
	if len(cl.Skip) == 0 {
		w.tried = c.empty[keyOf(cl)]
	}
	c.queue = append(c.queue, w)
	c.mu.Unlock()
	c.poke()
	return w
}

// withdraw takes a want back. It returns false when the claimer already
// took it: its outcome then arrives on done.
func (c *claimer) withdraw(w *want) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.taken {
		return false
	}
	c.queue = slices.DeleteFunc(c.queue, func(x *want) bool { return x == w })
	return true
}

// jobsQueued is a notification of queued jobs of a machine type; ""
// (notifications may have been lost) concerns every type.
func (c *claimer) jobsQueued(machineType string) {
	c.mu.Lock()
	c.notified[machineType]++
	c.mu.Unlock()
	c.poke()
}

// gen is the count of notifications that concern a machine type.
func (c *claimer) gen(machineType string) uint64 {
	return c.notified[machineType] + c.notified[""]
}

// claimable reports whether a want may look for jobs now, and if not,
// when it may at the latest.
func (c *claimer) claimable(w *want, now time.Time) (bool, time.Time) {
	if w.tried.at.IsZero() || w.tried.gen != c.gen(w.claim.MachineType) {
		return true, time.Time{}
	}
	again := w.tried.at.Add(claimRecheck)
	return !now.Before(again), again
}

// take removes from the queue the next batch of wants to claim for: the
// first claimable want and, unless it skips jobs, the claimable wants of
// the same machine type and executor after it, up to claimBatch jobs. It
// also returns the notifications' count of that type, and when nothing
// is claimable, when something may be.
func (c *claimer) take() (batch []*want, gen uint64, next time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	var first *want
	jobs := 0
	keep := c.queue[:0]
	for _, w := range c.queue {
		if w.ctx.Err() != nil {
			keep = append(keep, w) // its poll withdraws it
			continue
		}
		ok, again := c.claimable(w, now)
		fits := ok && jobs+w.n <= claimBatch && (first == nil ||
			len(first.claim.Skip) == 0 && len(w.claim.Skip) == 0 &&
				w.claim.MachineType == first.claim.MachineType && w.claim.Docker == first.claim.Docker)
		if !fits {
			if !ok && (next.IsZero() || again.Before(next)) {
				next = again
			}
			keep = append(keep, w)
			continue
		}
		if first == nil {
			first = w
		}
		w.taken = true
		batch = append(batch, w)
		jobs += w.n
	}
	clear(c.queue[len(keep):])
	c.queue = keep
	if first != nil {
		gen = c.gen(first.claim.MachineType)
	}
	return batch, gen, next
}

// run claims jobs for the wants as they come and as jobs are queued,
// until ctx ends.
func (c *claimer) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			c.close()
			return
		case <-c.kick:
		case <-timer.C:
		}
		for ctx.Err() == nil {
			batch, gen, next := c.take()
			if len(batch) == 0 {
				wait := time.Hour
				if !next.IsZero() {
					wait = max(time.Until(next), time.Millisecond)
				}
				timer.Reset(wait)
				break
			}
			c.serve(ctx, batch, gen)
		}
	}
}

// close ends the wants left when the claimer stops: they get nothing.
func (c *claimer) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.queue {
		w.taken = true
		w.done <- claimed{}
	}
	c.queue = nil
}

// serve claims jobs for a batch of wants in one transaction and hands
// them out; the wants left without a job go back to the queue until jobs
// of their type are queued.
func (c *claimer) serve(ctx context.Context, batch []*want, gen uint64) {
	cl := batch[0].claim
	var agents []string
	for _, w := range batch {
		for range w.n {
			agents = append(agents, w.agentID)
		}
	}
	var jobs []*ci.Job
	err := c.db.Tx(ctx, func(tx *store.Tx) (err error) {
		jobs, err = tx.ClaimJobs(agents, cl, c.now())
		return err
	})
	if err != nil {
		for _, w := range batch {
			w.done <- claimed{err: err}
		}
		return
	}
	var handouts map[string]*engine.Handout
	if c.read != nil && len(jobs) > 0 {
		handouts = c.read(ctx, jobs)
	}
	mine := map[string][]*ci.Job{}
	for _, j := range jobs {
		mine[j.AgentID] = append(mine[j.AgentID], j)
	}
	var left []*want
	for _, w := range batch {
		js := mine[w.agentID]
		n := min(w.n, len(js))
		mine[w.agentID] = js[n:]
		if n == 0 {
			left = append(left, w)
			continue
		}
		w.done <- claimed{jobs: js[:n], handouts: handouts}
	}
	if len(jobs) >= len(agents) {
		if len(cl.Skip) == 0 {
			c.mu.Lock()
			delete(c.empty, keyOf(cl))
			c.mu.Unlock()
		}
		return
	}
	mark := emptyMark{gen: gen, at: time.Now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(cl.Skip) == 0 {
		c.empty[keyOf(cl)] = mark
	}
	for _, w := range left {
		w.taken = false
		w.tried = mark
	}
	c.queue = append(left, c.queue...)
}
