package agent

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/jobuser"
	"github.com/batonci/baton/internal/redact"
	"github.com/batonci/baton/internal/runner"
	"github.com/batonci/baton/internal/toolbox"
)

// job is a job the agent holds, from its assignment until the server has
// accepted its result. Its fields are guarded by agent.mu.
type job struct {
	id     string
	cancel context.CancelCauseFunc
	// stopRequested is set once the server asked to stop the job.
	stopRequested bool
	// ctx is the job's context: debug sessions end with it.
	ctx context.Context
	// debug is the job's side of debug sessions (sshd.go).
	debug debugState
}

// runJob runs one job and delivers its log and result. It owns the job's
// uploader goroutine.
func (a *agent) runJob(ctx context.Context, j *job, as agentapi.Assignment) {
	log := a.log.With(logJob, j.id)
	up := newUploader(a, j.id, log)
	var upWG sync.WaitGroup
	upWG.Go(func() { up.run(a.life) })

	log.Info("job started", "name", as.Job.Name)
	result, reason, cleanup := a.execute(ctx, j, as, up.emit)
	j.cancel(nil)
	log.Info("job ended", "result", result, "reason", reason)

	// Report the result first: removing the job's directory is not on
	// the path from a job's last command to its pipeline going on.
	up.close(result, reason)
	cleanup()

	a.mu.Lock()
	a.busy--
	a.mu.Unlock()
	a.notify()

	upWG.Wait()

	a.mu.Lock()
	delete(a.jobs, j.id)
	a.mu.Unlock()
	a.notify()
}

// execute prepares the job's directory, workspace and environment and runs
// it; the returned cleanup removes the directory (after stopping a
// workspace still being prepared).
func (a *agent) execute(ctx context.Context, j *job, as agentapi.Assignment, emit func(ci.Event)) (ci.Result, ci.Reason, func()) {
	home := filepath.Join(a.jobsDir, safeName(as.JobID))
	bgCtx, cancelBg := context.WithCancel(ctx)
	var ws workspaceMaker    // the workspace, made when it is wanted
	var lease *jobuser.Lease // the job's user, with JobUsers
	var leaseErr error
	if a.cfg.JobUsers != nil {
		lease, leaseErr = a.cfg.JobUsers.Lease()
	}
	var svc *jobsvc.Service // the job's service, once started
	var tools *jobTools     // what the job got from the tool cache
	if a.cfg.Tools != nil {
		tools = &jobTools{p: a.cfg.Tools}
	}
	var services JobServices
	if a.cfg.Services != nil {
		services = a.cfg.Services(as.JobID, len(as.Job.Containers) > 0)
	}
	cleanup := func() {
		cancelBg()
		ws.close()
		// What the job left running as its user goes first, so that
		// nothing writes in the directory while it is removed.
		lease.Release()
		if svc != nil {
			svc.Close()
		}
		tools.close()
		for _, dir := range []string{home, workspaceStage(a.jobsDir, as.JobID)} {
			if err := removeAll(dir); err != nil {
				a.log.Warn("remove the job directory", logJob, as.JobID, logErr, err)
			}
		}
	}
	if leaseErr != nil {
		failPrepare(emit, ci.Timestamp(a.cfg.Now()), leaseErr.Error(), ci.ResultFailed, ci.ReasonInternal)
		return ci.ResultFailed, ci.ReasonInternal, cleanup
	}
	result, reason := a.executeIn(ctx, bgCtx, j, as, home, lease, &ws, &svc, services, tools, emit)
	return result, reason, cleanup
}

// executeIn prepares and runs the job in home, as lease's user when
// there is one; the job's service, once started, is left in *svc for the
// caller to close.
func (a *agent) executeIn(ctx, bgCtx context.Context, j *job, as agentapi.Assignment, home string, lease *jobuser.Lease, ws *workspaceMaker, svc **jobsvc.Service, services JobServices, tools *jobTools, emit func(ci.Event)) (ci.Result, ci.Reason) {
	job := as.Job
	if services != nil {
		// The services go with the job, before its result is reported.
		defer func() {
			if err := services.Close(); err != nil {
				a.log.Warn("remove the job's services", logJob, as.JobID, logErr, err)
			}
		}()
	}
	env, err := a.prepare(ctx, bgCtx, as, home, lease, ws)
	if err == nil {
		*svc, err = a.startJobService(as, lease, services, tools, ws)
	}
	var toolDirs []string
	if err == nil {
		toolDirs, err = a.globalTools(ctx, as, tools, &job)
	}
	if err != nil {
		result, reason := ci.ResultFailed, ci.ReasonInternal
		if ctx.Err() != nil {
			result, reason = ci.ResultStopped, stopReason(ctx)
		}
		msg := redact.New(job.Secrets).String(err.Error())
		failPrepare(emit, ci.Timestamp(a.cfg.Now()), msg, result, reason)
		return result, reason
	}
	job.Dir = home
	job.BaseEnv = append(prependPath(env, toolDirs), (*svc).Env()...)
	job.Init = toolbox.ShellInit()
	if len(job.Containers) > 0 {
		a.containerJob(&job, as, (*svc).Dir())
		if len(toolDirs) > 0 {
			job.Init = "export PATH='" + strings.ReplaceAll(strings.Join(toolDirs, ":"), "'", `'\''`) + "':\"$PATH\"\n" + job.Init
		}
	}
	a.mu.Lock()
	j.debug.job = job
	a.mu.Unlock()
	exec := recorder{Executor: a.cfg.Executor, user: sessionUser(lease, home), set: func(s executor.Session) {
		a.mu.Lock()
		j.debug.sess = s
		a.mu.Unlock()
	}}
	r := &runner.Runner{Executor: exec, Now: a.cfg.Now, Log: a.log.With(logJob, as.JobID), Hold: a.holdFor(j)}
	return r.Run(ctx, job, emit)
}

// sessionUser is the user a job's shell session runs as: lease's, with
// the job's home, or nil.
func sessionUser(lease *jobuser.Lease, home string) *executor.User {
	if lease == nil {
		return nil
	}
	return &executor.User{UID: lease.UID, GID: lease.GID, Home: home}
}

// prepare makes the job's home directory and workspace, and returns its
// base environment.
//
// A job that runs on this machine starts without waiting for its working
// copy: the copy is made in the background (by ws) and the toolbox's
// checkout waits for it, so a job's first command does not pay for git.
// It is started with the job when the job's commands ask for it
// (wantsWorkspace), else when checkout asks the job's service for it: a
// job that never checks out runs no git at all. Jobs in containers need
// the copy before the containers start, so for them it is made first.
//
// With a lease, the job's home is its user's, mode 0700, from the start,
// and its workspace, with objects of its own (the job cannot read the
// agent's mirrors), is made outside it, in a directory only root can
// enter, given to the user there, and only then renamed into the home:
// nothing the agent does as root happens in a directory the job's
// processes could change meanwhile.
func (a *agent) prepare(ctx, bgCtx context.Context, as agentapi.Assignment, home string, lease *jobuser.Lease, ws *workspaceMaker) ([]string, error) {
	if err := removeAll(home); err != nil {
		return nil, fmt.Errorf("prepare the job directory: %w", err)
	}
	// With job users, a job's home is closed to the others: a shell
	// job's is its user's alone; a container job's stays the agent's
	// (the container's user is the image's, root inside it as a rule),
	// so that shell jobs cannot read a container job's secret files.
	own := lease != nil && len(as.Job.Containers) == 0
	mode := os.FileMode(0o755)
	if lease != nil {
		mode = 0o700
	}
	if err := os.Mkdir(home, mode); err != nil {
		return nil, fmt.Errorf("prepare the job directory: %w", err)
	}
	// The job's home is its HOME too, as on Semaphore, where every job
	// starts in a fresh home directory: secret files (written relative
	// to $HOME) and whatever a job leaves in ~ never reach another job.
	env := append([]string(nil), a.baseEnv...)
	env = append(env, "HOME="+home, "BATON_JOB_HOME="+home)
	if lease != nil {
		env = append(env, "USER="+lease.Name, "LOGNAME="+lease.Name)
	}

	if own {
		// The job's home is its user's from now on: the agent, as root,
		// writes nothing more in it but by rename(2), which follows no
		// link of the job's (workspaceStage).
		if err := os.Chown(home, lease.UID, lease.GID); err != nil {
			return nil, fmt.Errorf("prepare the job directory: %w", err)
		}
	}
	if co := as.Checkout; co != nil {
		name := cmp.Or(co.RepoName, jobVar(as.Job, "SEMAPHORE_GIT_REPO_NAME"), path.Base(gitrepo.SlugFromURL(co.URL)))
		name = safeName(name)
		dir := filepath.Join(home, name)
		if len(as.Job.Containers) > 0 {
			if err := a.mergeCommit(ctx, co); err != nil {
				return nil, fmt.Errorf("prepare the workspace: %w", err)
			}
			if err := a.cache.Project(co.Project).MaterializeOwn(ctx, co.URL, co.SHA, branchOf(co.Ref), dir); err != nil {
				return nil, fmt.Errorf("prepare the workspace: %w", err)
			}
		} else {
			ready := filepath.Join(home, ".baton-workspace-ready")
			stage := ""
			if own {
				stage = workspaceStage(a.jobsDir, as.JobID)
			}
			ws.prepare(func() {
				msg := ""
				if err := a.makeWorkspace(bgCtx, co, dir, stage, lease); err != nil {
					msg = redact.New(as.Job.Secrets).String(err.Error())
				}
				publishReady(ready, stage, msg)
			})
			if wantsWorkspace(as.Job) {
				ws.start()
			}
			env = append(env, "BATON_WORKSPACE_READY="+ready)
		}
		env = append(env, "BATON_WORKSPACE="+dir)
	}
	// The cache, the artifacts and the sem-context values are the job
	// service's (startJobService): the job gets no path to them.
	return env, nil
}

// workspaceStage is where the workspace of a job with a lease is made
// before it is the job's: beside the job's home in the jobs directory,
// which only root can list (same file system, so renamed in one step).
// No home has this name: safeName never starts with a dot. Removed with
// the home (cleanup), and with every job directory at start (setUp).
func workspaceStage(jobsDir, jobID string) string {
	return filepath.Join(jobsDir, ".workspace-"+safeName(jobID))
}

// makeWorkspace makes co's working copy at ws. With a stage (a job with a
// lease), the copy gets objects of its own and is made and given to the
// lease's user inside stage, out of the job's reach, then renamed to ws:
// rename(2) follows no link at ws; what the job may have put there
// meanwhile makes it fail (a file, a link, a directory with something in
// it) or is replaced (an empty directory of its own).
func (a *agent) makeWorkspace(ctx context.Context, co *agentapi.Checkout, ws, stage string, lease *jobuser.Lease) error {
	if err := a.mergeCommit(ctx, co); err != nil {
		return err
	}
	repo := a.cache.Project(co.Project)
	if stage == "" {
		return repo.Materialize(ctx, co.URL, co.SHA, branchOf(co.Ref), ws)
	}
	if err := removeAll(stage); err != nil {
		return fmt.Errorf("prepare the workspace: %w", err)
	}
	if err := os.Mkdir(stage, 0o700); err != nil {
		return fmt.Errorf("prepare the workspace: %w", err)
	}
	staged := filepath.Join(stage, "workspace")
	if err := repo.MaterializeOwn(ctx, co.URL, co.SHA, branchOf(co.Ref), staged); err != nil {
		return err
	}
	if err := giveTree(staged, lease.UID, lease.GID); err != nil {
		return fmt.Errorf("prepare the workspace: %w", err)
	}
	if err := os.Rename(staged, ws); err != nil {
		return fmt.Errorf("prepare the workspace: %w", err)
	}
	return nil
}

// publishReady writes the workspace's ready file for the toolbox's
// checkout: msg, empty when the workspace is there. It is written whole,
// then renamed, so that checkout never reads half; with a stage (a job
// with a lease), it is written in the stage, out of the job's reach, and
// renamed into the job's home.
func publishReady(ready, stage, msg string) {
	tmp := ready + ".tmp"
	if stage != "" {
		if err := os.MkdirAll(stage, 0o700); err != nil {
			return
		}
		tmp = filepath.Join(stage, "ready")
	}
	if err := os.WriteFile(tmp, []byte(msg), 0o644); err == nil {
		os.Rename(tmp, ready)
	}
}

// startJobService starts the job's service: its project's cache and
// artifacts, with the rights the server gave the job (a pull request from
// a fork only reads them), its workflow's sem-context values, and the
// start of its workspace (ws) for the toolbox's checkout. The
// artifacts are the server's (serverArtifacts); the other stores are in the agent's data directory,
// which jobs cannot enter; the job reaches them only through the
// service's socket, whose directory is its user's (a shell job with a
// lease) or not listable.
func (a *agent) startJobService(as agentapi.Assignment, lease *jobuser.Lease, services JobServices, tools *jobTools, ws *workspaceMaker) (*jobsvc.Service, error) {
	var owner *jobsvc.Owner
	if lease != nil && len(as.Job.Containers) == 0 {
		owner = &jobsvc.Owner{UID: lease.UID, GID: lease.GID}
	}
	cfg := jobsvc.Config{
		Scope:     jobsvc.Scope{Project: as.Project, Workflow: as.Workflow, Job: as.JobID, Fork: as.Fork},
		Cache:     &serverCache{client: a.client, job: as.JobID, copies: a.cacheCopies},
		Artifacts: serverArtifacts{client: a.client, job: as.JobID},
		Reports:   serverReports{client: a.client, job: as.JobID},
		Coverage:  serverCoverage{client: a.client, job: as.JobID},
		Libraries: serverLibraries{client: a.client, job: as.JobID},
		Workspace: ws.start,
		Context:   jobsvc.LocalContext{Dir: filepath.Join(a.cfg.DataDir, "context")},
		Dir:       a.svcDir,
		Owner:     owner,
		Listen:    a.cfg.JobServiceListen,
	}
	if tools != nil {
		cfg.Tools = tools
	}
	if services != nil {
		cfg.Services = services
	} else {
		cfg.NoServices = a.cfg.NoServices
	}
	svc, err := jobsvc.Start(cfg)
	if err != nil {
		return nil, fmt.Errorf("prepare the job: %w", err)
	}
	return svc, nil
}

// giveTree makes uid:gid the owner of everything under root, but for
// files with more than one link: those are the mirror's object files,
// hard-linked into the workspace, which must stay the agent's (read-only
// for the job) or the job could change the mirror. Symbolic links are
// not followed.
func giveTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				return nil
			}
		}
		return os.Lchown(p, uid, gid)
	})
}

// containerJob adapts a job that runs in containers: the host paths its
// main container needs are mounted (the toolbox and the baton binary it
// links to, the job service's socket directory svcDir, the tool cache
// read-only), and nothing else of the agent's (its data directory with the cache, artifacts and
// sem-context stores, mirrors, other jobs' directories); the host's
// environment is left out but for Baton's own variables, and the toolbox
// goes in front of the image's PATH.
func (a *agent) containerJob(job *jobspec.Job, as agentapi.Assignment, svcDir string) {
	ro := func(p string) jobspec.Mount { return jobspec.Mount{Path: p, ReadOnly: true} }
	// The workspace has its own objects (MaterializeOwn): the agent's
	// mirrors are not mounted.
	mounts := []jobspec.Mount{ro(a.binDir), {Path: svcDir}}
	if a.cfg.Tools != nil && a.cfg.Tools.Cache != nil {
		// The tool cache is the jobs' to read, never to write.
		mounts = append(mounts, ro(a.cfg.Tools.Cache.Dir()))
	}
	if self, err := filepath.Abs(a.cfg.BatonPath); err == nil {
		mounts = append(mounts, ro(self))
		if real, err := filepath.EvalSymlinks(self); err == nil && real != self {
			mounts = append(mounts, ro(real))
		}
	}
	var base []string
	for _, kv := range job.BaseEnv {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "BATON_") || k == "HOME" {
			base = append(base, kv)
		}
	}
	job.Mounts = append(mounts, job.Mounts...)
	job.BaseEnv = base
	job.Init = "export PATH='" + strings.ReplaceAll(a.binDir, "'", `'\''`) + "':\"$PATH\"\n" + job.Init
	if job.ID == "" {
		job.ID = as.JobID
	}
}

// branchOf returns the branch a ref names ("refs/heads/B" → "B"), or ""
// for tags and other refs, whose working copy has a detached HEAD.
func branchOf(ref string) string {
	b, _ := strings.CutPrefix(ref, "refs/heads/")
	if b == ref {
		return ""
	}
	return b
}

// jobVar returns the value of the job's variable name, or "".
func jobVar(j jobspec.Job, name string) string {
	v := ""
	for _, e := range j.Env {
		if e.Name == name {
			v = e.Value
		}
	}
	return v
}

// stopReason is the reason of a job whose context was cancelled.
func stopReason(ctx context.Context) ci.Reason {
	var sc ci.StopCause
	if errors.As(context.Cause(ctx), &sc) {
		return sc.Reason
	}
	return ci.ReasonInternal
}

// failPrepare reports a job that could not be prepared as a job whose log
// says why, as internal/localrun does.
func failPrepare(emit func(ci.Event), ts ci.Timestamp, msg string, result ci.Result, reason ci.Reason) {
	for _, ev := range ci.PrepareFailed(ts, msg, result, reason) {
		emit(ev)
	}
}

// Compiled on first use: a counted repetition compiles to thousands of
// allocations, which every baton process (a job supervisor, a toolbox
// command) would otherwise pay when it starts.
var safeChars = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`) })

// absPath is p made absolute, or p if that fails.
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// hashName is a short name made from s.
func hashName(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// safeName turns an ID from the server into a directory name: itself if
// it is a plain name, else a hash of it.
func safeName(s string) string {
	if s == "" {
		return "default"
	}
	if safeChars().MatchString(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "x-" + hex.EncodeToString(sum[:12])
}

// removeAll removes path and everything under it, including directories a
// job made read-only (as Go's module cache is).
func removeAll(path string) error {
	if err := os.RemoveAll(path); err == nil {
		return nil
	}
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(path)
}

// mergeCommit makes a pull request's merge commit in the agent's mirror
// when the checkout asks for one, and checks it is the commit the server
// built (the merge is deterministic).
func (a *agent) mergeCommit(ctx context.Context, co *agentapi.Checkout) error {
	if co.Merge == nil {
		return nil
	}
	sha, err := a.cache.Project(co.Project).MergeCommit(ctx, co.URL, co.Merge.BaseSHA, co.Merge.HeadURL, co.Merge.HeadSHA)
	if err != nil {
		return fmt.Errorf("merge the pull request: %w", err)
	}
	if sha != co.SHA {
		return fmt.Errorf("merge the pull request: made %s, but the server built %s", sha, co.SHA)
	}
	return nil
}
