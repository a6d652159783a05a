package dispatch

import (
	"context"
	"slices"
	"time"

	"github.com/batonci/baton/internal/ci"
)

// The first look of a poll reads its agent and the jobs it runs
// (store.AgentPoll). An agent polls again after every job it takes and
// every job it ends, so in a drain that read came twice per job, and
// told the server what it knew already: it had handed the job out, or
// taken its finish, a moment before.
//
// So the server keeps what the last look of each agent found, and what
// it changed since (jobs handed out, jobs finished, the agent's state
// and images), and a poll uses it instead of reading when all of this
// holds:
//   - no "cancel" notification came since the read (news, newsForAll:
//     a stop request, a debug session, a revoked token, notifications
//     lost); a held poll relies on the same notifications;
//   - the jobs the poll lists are exactly the jobs kept: the agent's jobs
//     did not change through another server (an agent behind a load
//     balancer) or a loss;
//   - the read is younger than maxLookAge, which bounds what changes
//     without a notification (another server declaring the agent lost
//     after a partition).
//
// A poll subscribes before it looks, so news that comes after the look
// wakes it, as it wakes any held poll.

// agentLook is what the last look of an agent's polls found, kept up to
// date with what this server did since.
type agentLook struct {
	agent *ci.Agent
	jobs  []*ci.Job // running and stopping, as store.AgentPoll returns them
	news  uint64    // d.newsCount when it was read
	read  time.Time
}

// maxLookAge is how long a look's read is used: a third of the time
// after which a silent agent is lost.
func (d *Dispatcher) maxLookAge() time.Duration { return d.cfg.LostAfter / 3 }

// maxLooks bounds looks: the agents that went away are never forgotten
// one by one, so once it is full it starts again empty (it only spares
// reads).
const maxLooks = 1 << 14

// lookAgent returns the agent and the jobs it runs for the first look of
// a poll that lists running, from what this server knows when that
// still holds (see above), otherwise from the database; and the news
// count to keep them with (keepLook).
func (d *Dispatcher) lookAgent(ctx context.Context, id string, running []string) (*ci.Agent, []*ci.Job, uint64, error) {
	d.mu.Lock()
	news := d.newsCount
	if l, ok := d.looks[id]; ok && l.news == news && time.Since(l.read) < d.maxLookAge() && sameJobs(l.jobs, running) {
		a, jobs := copyLook(l.agent, l.jobs)
		d.mu.Unlock()
		if f := d.cfg.Metrics.LookKept; f != nil {
			f()
		}
		return a, jobs, news, nil
	}
	d.mu.Unlock()
	a, jobs, err := d.db.AgentPoll(ctx, id)
	if err != nil {
		return nil, nil, 0, err
	}
	d.mu.Lock()
	if len(d.looks) >= maxLooks {
		clear(d.looks)
	}
	// Kept as read, and timed from the read: what the poll then
	// changes (keepLook) does not make it younger.
	ka, kjobs := copyLook(a, jobs)
	d.looks[id] = &agentLook{agent: ka, jobs: kjobs, news: news, read: time.Now()}
	d.mu.Unlock()
	return a, jobs, news, nil
}

// keepLook records the agent as the first look of a poll left it (its
// state and images written), if nothing replaced the look meanwhile.
func (d *Dispatcher) keepLook(a *ci.Agent, news uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l, ok := d.looks[a.ID]; ok && l.news == news {
		c := *a
		l.agent = &c
	}
}

// lookHandedOut adds a job this server handed to an agent to its look.
func (d *Dispatcher) lookHandedOut(agentID string, j *ci.Job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.looks[agentID]
	if !ok {
		return
	}
	l.jobs = append(l.jobs, &ci.Job{ID: j.ID, AgentID: agentID, State: ci.StateRunning, StartedAt: j.StartedAt})
}

// lookEnded removes an ended job from its agent's look; d.mu is held.
func (d *Dispatcher) lookEnded(agentID, jobID string) {
	if l, ok := d.looks[agentID]; ok {
		l.jobs = slices.DeleteFunc(l.jobs, func(j *ci.Job) bool { return j.ID == jobID })
	}
}

// dropLook forgets an agent's look: it registered again, disconnected or
// lost its jobs.
func (d *Dispatcher) dropLook(agentID string) {
	d.mu.Lock()
	delete(d.looks, agentID)
	d.mu.Unlock()
}

// sameJobs reports whether running lists exactly the jobs of a look.
func sameJobs(jobs []*ci.Job, running []string) bool {
	if len(jobs) != len(running) {
		return false
	}
	for _, j := range jobs {
		if !slices.Contains(running, j.ID) {
			return false
		}
	}
	return true
}

// copyLook copies an agent and its jobs, so that a poll may change its
// own and the kept look stays as it was.
func copyLook(a *ci.Agent, jobs []*ci.Job) (*ci.Agent, []*ci.Job) {
	c := *a
	out := make([]*ci.Job, len(jobs))
	for i, j := range jobs {
		cj := *j
		out[i] = &cj
	}
	return &c, out
}
