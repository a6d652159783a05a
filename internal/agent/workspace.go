package agent

import (
	"strings"
	"sync"

	"github.com/batonci/baton/internal/jobspec"
)

// workspaceMaker makes a job's working copy in the background, once, when
// it is first wanted: at the job's start if its commands ask for it
// (wantsWorkspace), else when the toolbox's checkout asks the job's
// service (jobsvc.Config.Workspace). The zero value has nothing to make.
type workspaceMaker struct {
	mu sync.Mutex
	// run makes the copy and publishes its ready file; nil once started,
	// once closed, or when the job has no copy to make.
	run func()
	wg  sync.WaitGroup // the copy being made
}

// prepare sets what start runs: run makes the copy.
func (w *workspaceMaker) prepare(run func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.run = run
}

// start starts making the copy unless it was started or closed already;
// it does not wait.
func (w *workspaceMaker) start() {
	w.mu.Lock()
	run := w.run
	w.run = nil
	if run != nil {
		w.wg.Add(1)
	}
	w.mu.Unlock()
	if run != nil {
		go func() {
			defer w.wg.Done()
			run()
		}()
	}
}

// close makes later starts do nothing and waits for a copy being made
// (cancel its context first).
func (w *workspaceMaker) close() {
	w.mu.Lock()
	w.run = nil
	w.mu.Unlock()
	w.wg.Wait()
}

// wantsWorkspace reports whether job's commands name checkout or the
// workspace's variables (BATON_WORKSPACE...): its copy is then started
// with it, so that its checkout does not wait for git from the start. It
// is a guess from the text only; a job that checks out some other way (a
// script, a variable) gets its copy when checkout asks for it.
func wantsWorkspace(job jobspec.Job) bool {
	if job.Debug {
		return true // whoever debugs it will likely check out
	}
	for _, cmds := range [][]string{job.Commands, job.EpilogueAlways, job.EpilogueOnPass, job.EpilogueOnFail} {
		for _, c := range cmds {
			if strings.Contains(c, "checkout") || strings.Contains(c, "BATON_WORKSPACE") {
				return true
			}
		}
	}
	return false
}
