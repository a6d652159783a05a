package engine

import (
	"encoding/json"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/memo"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/store"
)

// Reuse shares, between workflows created at once for one commit, what
// each would otherwise read and compile alike: the commit's message and
// authors, and a pipeline file compiled for the same event, parameters
// and library pins (a compiled pipeline is only read once made). A
// schedule tick gives one Reuse to the requests of all its due schedules,
// so that a thousand schedules of one branch compile its pipeline once.
// It forgets nothing: make one per batch of requests made together. Its
// zero value is ready to use, by many goroutines at once; a nil *Reuse
// reuses nothing.
type Reuse struct {
	commits  memo.Map[[2]string, repocache.CommitInfo] // by project ID and commit
	compiles memo.Map[string, *compiled]               // by compileKey
}

// commit returns the commit's information, read by read unless r has it.
func (r *Reuse) commit(projectID, sha string, read func() (repocache.CommitInfo, error)) (repocache.CommitInfo, error) {
	if r == nil {
		return read()
	}
	return r.commits.Get([2]string{projectID, sha}, read)
}

// compile returns the compiled pipeline of key, compiled by fn unless r
// has it.
func (r *Reuse) compile(key string, fn func() *compiled) *compiled {
	if r == nil {
		return fn()
	}
	c, _ := r.compiles.Get(key, func() (*compiled, error) { return fn(), nil })
	return c
}

// compileKey names everything Engine.compile reads: the project, the
// workflow's event (its commit among it), the file, the parameters and
// the libraries' pins.
func compileKey(proj *ci.Project, wf *ci.Workflow, file string, params map[string]string, pins []store.LibraryPin) string {
	key, err := json.Marshal(struct {
		Project string
		Event   plan.Event
		File    string
		Params  map[string]string // encoded in key order
		Pins    []store.LibraryPin
	}{proj.ID, planEvent(proj, wf), file, params, pins})
	if err != nil { // not for these types; then reuse nothing
		return wf.ID
	}
	return string(key)
}
