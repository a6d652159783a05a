package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/docker"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testenv/probe"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// serviceEnv starts a server with agents and a project on a repository
// holding pipeline.
func serviceEnv(b *testing.B, agents, slots int, pipeline string) *testenv.Env {
	b.Helper()
	e := testenv.Start(b, testenv.Options{})
	for i := 0; i < agents; i++ {
		e.StartAgent(b, fmt.Sprintf("bench-%d", i), "e1-standard-2", slots)
	}
	repo := testenv.NewRepo(b, map[string]string{".semaphore/semaphore.yml": pipeline})
	e.Do("POST", "/api/v1/projects", map[string]any{"name": "bench", "repo_url": repo.URL(), "default_branch": "main"}, nil, http.StatusCreated)
	e.Eventually(10*time.Second, func() bool {
		var as struct{ Agents []ci.Agent }
		e.Do("GET", "/api/v1/agents", nil, &as)
		return len(as.Agents) == agents
	}, "%d agents connected", agents)
	return e
}

func trigger(e *testenv.Env) string {
	var wf ci.Workflow
	e.Do("POST", "/api/v1/projects/bench/workflows", map[string]any{"branch": "main"}, &wf, http.StatusCreated)
	return wf.ID
}

// firstCommandStart returns when a job's first user command started.
func firstCommandStart(b *testing.B, e *testenv.Env, jobID string) time.Time {
	b.Helper()
	resp, err := e.Client().JobLog(b.Context(), jobID, "events")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var ev ci.Event
		if err := dec.Decode(&ev); err != nil {
			b.Fatalf("no user command in the log of %s: %v", jobID, err)
		}
		if ev.Kind == ci.EventCmdStarted && !strings.HasPrefix(ev.Directive, "Exporting") && !strings.HasPrefix(ev.Directive, "Injecting") && !strings.HasPrefix(ev.Directive, "Pulling images") {
			return ev.Timestamp.Time()
		}
	}
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkTriggerToFirstCommand: from the API call that starts a workflow
// to its job's first command running on an agent (shell executor), over
// 200 runs; the baseline is starting `bash -c true`.
func BenchmarkTriggerToFirstCommand(b *testing.B) {
	e := serviceEnv(b, 1, 1, "version: v1.0\nagent:\n  machine:\n    type: e1-standard-2\nblocks:\n  - task:\n      jobs:\n        - name: Run\n          commands:\n            - \"true\"\n")
	const runs = 200
	for b.Loop() {
		var lat, created, queued, claimed []time.Duration
		for i := 0; i < runs; i++ {
			start := time.Now()
			id := trigger(e)
			wf := e.WaitWorkflow(id, 30*time.Second)
			job := wf.Jobs()["Nameless block 1/Run"]
			lat = append(lat, firstCommandStart(b, e, job.ID).Sub(start))
			// Where the time goes: the job's row written (the server's
			// trigger: git and the transaction), queued, claimed.
			created = append(created, job.CreatedAt.Sub(start))
			queued = append(queued, job.QueuedAt.Sub(start))
			claimed = append(claimed, job.StartedAt.Sub(start))
		}
		var bash []time.Duration
		for i := 0; i < 50; i++ {
			start := time.Now()
			exec.Command("bash", "-c", "true").Run()
			bash = append(bash, time.Since(start))
		}
		b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(percentile(bash, 0.5).Microseconds())/1000, "bash-start-p50-ms")
		b.ReportMetric(float64(percentile(created, 0.5).Microseconds())/1000, "created-p50-ms")
		b.ReportMetric(float64(percentile(queued, 0.5).Microseconds())/1000, "queued-p50-ms")
		b.ReportMetric(float64(percentile(claimed, 0.5).Microseconds())/1000, "claimed-p50-ms")
	}
}

// BenchmarkTriggerToFirstCommandAgentProcess: the same trigger → first
// command, with the agent as deployed: a `baton agent --executor shell`
// process, whose jobs' shells run under a job supervisor (the baton
// binary). BATON_BENCH_BEFORE names another baton binary (say, built from
// the commit before a change) whose agent is measured in the same loop,
// each trigger alternating between the two servers, so that before and
// after see the same load.
func BenchmarkTriggerToFirstCommandAgentProcess(b *testing.B) {
	const pipeline = "version: v1.0\nagent:\n  machine:\n    type: e1-standard-2\nblocks:\n  - task:\n      jobs:\n        - name: Run\n          commands:\n            - \"true\"\n"
	type side struct {
		name         string
		e            *testenv.Env
		lat, claimed []time.Duration
	}
	bins := [][2]string{{"", baton(b)}}
	if before := os.Getenv("BATON_BENCH_BEFORE"); before != "" {
		bins = append(bins, [2]string{"before-", before})
	}
	var sides []*side
	for _, nb := range bins {
		e := testenv.Start(b, testenv.Options{})
		agent := exec.Command(nb[1], "agent", "--server", e.URL, "--token", e.AgentToken, "--name", "bench", "--type", "e1-standard-2", "--executor", "shell", "--data", b.TempDir())
		agent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := agent.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			syscall.Kill(-agent.Process.Pid, syscall.SIGTERM)
			agent.Wait()
		})
		repo := testenv.NewRepo(b, map[string]string{".semaphore/semaphore.yml": pipeline})
		e.Do("POST", "/api/v1/projects", map[string]any{"name": "bench", "repo_url": repo.URL(), "default_branch": "main"}, nil, http.StatusCreated)
		e.Eventually(30*time.Second, func() bool {
			var as struct{ Agents []ci.Agent }
			e.Do("GET", "/api/v1/agents", nil, &as)
			return len(as.Agents) == 1
		}, "the agent connected")
		// A first job, so that both agents start measuring warm.
		e.WaitWorkflow(trigger(e), time.Minute)
		sides = append(sides, &side{name: nb[0], e: e})
	}
	const runs = 100
	for b.Loop() {
		for range runs {
			for _, s := range sides {
				start := time.Now()
				id := trigger(s.e)
				wf := s.e.WaitWorkflow(id, time.Minute)
				job := wf.Jobs()["Nameless block 1/Run"]
				s.lat = append(s.lat, firstCommandStart(b, s.e, job.ID).Sub(start))
				// Where the time goes: the server's part ends when the
				// agent claims the job; the rest is the agent's.
				s.claimed = append(s.claimed, job.StartedAt.Sub(start))
			}
		}
	}
	for _, s := range sides {
		b.ReportMetric(float64(percentile(s.lat, 0.5).Microseconds())/1000, s.name+"p50-ms")
		b.ReportMetric(float64(percentile(s.lat, 0.99).Microseconds())/1000, s.name+"p99-ms")
		b.ReportMetric(float64(percentile(s.claimed, 0.5).Microseconds())/1000, s.name+"claimed-p50-ms")
	}
}

// BenchmarkTriggerToPassed3Jobs: from the API call to a 3-job pipeline of
// trivial commands being done and passed, with one agent of 3 slots.
func BenchmarkTriggerToPassed3Jobs(b *testing.B) {
	e := serviceEnv(b, 1, 3, "version: v1.0\nagent:\n  machine:\n    type: e1-standard-2\nblocks:\n  - task:\n      jobs:\n        - commands: [\"true\"]\n        - commands: [\"true\"]\n        - commands: [\"true\"]\n")
	var total time.Duration
	n := 0
	var all []time.Duration
	for b.Loop() {
		for i := 0; i < 20; i++ {
			start := time.Now()
			id := trigger(e)
			var wf testenv.Workflow
			for {
				e.Do("GET", "/api/v1/workflows/"+id, nil, &wf)
				if wf.State == ci.StateDone {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			if wf.Result != ci.ResultPassed {
				b.Fatalf("result %s", wf.Result)
			}
			d := wf.Pipelines[0].DoneAt.Sub(start)
			all = append(all, d)
			total += d
			n++
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(n)/1000, "mean-ms")
	b.ReportMetric(float64(percentile(all, 0.5).Microseconds())/1000, "p50-ms")
}

// BenchmarkMillionLinesThroughServer: a job printing 1,000,000 lines runs
// on an agent, its log streamed to the server; wall time against bare
// bash, stored size against raw size, fetching the whole log and the last
// 1,000 lines, and the server's heap growth while serving them.
func BenchmarkMillionLinesThroughServer(b *testing.B) {
	e := serviceEnv(b, 1, 1, "version: v1.0\nagent:\n  machine:\n    type: e1-standard-2\nblocks:\n  - task:\n      jobs:\n        - name: Print\n          commands:\n            - seq 1000000\n")
	for b.Loop() {
		start := time.Now()
		id := trigger(e)
		wf := e.WaitWorkflow(id, 120*time.Second)
		wall := wf.Pipelines[0].DoneAt.Sub(start)
		job := wf.Jobs()["Nameless block 1/Print"]

		bashStart := time.Now()
		cmd := exec.Command("bash", "-c", "seq 1000000")
		out, _ := cmd.StdoutPipe()
		cmd.Start()
		raw, _ := io.Copy(io.Discard, out)
		cmd.Wait()
		bash := time.Since(bashStart)

		info, err := e.Server.Logs.Info(job.ID)
		if err != nil {
			b.Fatal(err)
		}
		// The sealed log is one object in the blob store (DATA/blobs).
		stored := dirSize(filepath.Join(e.DataDir, "blobs", "objects", "logs", job.ID))

		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fetchStart := time.Now()
		resp := get(b, e, "/api/v1/jobs/"+job.ID+"/log?format=text")
		whole, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fetchWhole := time.Since(fetchStart)
		tailStart := time.Now()
		resp = get(b, e, "/api/v1/jobs/"+job.ID+"/log?tail=1000")
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fetchTail := time.Since(tailStart)
		runtime.ReadMemStats(&after)

		b.ReportMetric(float64(wall.Milliseconds()), "trigger-to-done-ms")
		b.ReportMetric(float64(bash.Milliseconds()), "bash-ms")
		b.ReportMetric(float64(stored)/float64(raw), "stored/raw")
		b.ReportMetric(float64(info.RawBytes)/float64(raw), "logged/raw")
		b.ReportMetric(float64(fetchWhole.Milliseconds()), "fetch-whole-ms")
		b.ReportMetric(float64(whole)/1e6, "whole-MB")
		b.ReportMetric(float64(fetchTail.Microseconds())/1000, "tail1000-ms")
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/1e6, "heap-growth-MB")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/1e6, "allocated-while-serving-MB")
	}
}

func get(b *testing.B, e *testenv.Env, path string) *http.Response {
	b.Helper()
	resp, err := e.Client().Send(b.Context(), http.MethodGet, path, nil)
	if err != nil {
		b.Fatal(err)
	}
	return resp
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// BenchmarkDrain5000Jobs: 5,000 queued trivial jobs (100 workflows on
// 100 branches, 50 jobs each) drained by 20 agents of one slot; every job
// must run exactly once and every log must be complete.
func BenchmarkDrain5000Jobs(b *testing.B) {
	var y strings.Builder
	y.WriteString("version: v1.0\nagent:\n  machine:\n    type: e1-standard-2\nblocks:\n  - name: B\n    task:\n      jobs:\n")
	for j := 0; j < 50; j++ {
		fmt.Fprintf(&y, "        - name: J%d\n          commands:\n            - echo ran J%d of $SEMAPHORE_GIT_BRANCH\n", j, j)
	}
	// The server's default LostAfter (15 s), not the tests' 2 s: on a
	// loaded machine a busy agent may go 2 s unheard.
	e := testenv.Start(b, testenv.Options{LostAfter: 15 * time.Second})
	repo := testenv.NewRepo(b, map[string]string{".semaphore/semaphore.yml": y.String()})
	for i := 0; i < 100; i++ {
		repo.Git("branch", fmt.Sprintf("b%03d", i), "main")
	}
	e.Do("POST", "/api/v1/projects", map[string]any{"name": "bench", "repo_url": repo.URL(), "default_branch": "main"}, nil, http.StatusCreated)
	for b.Loop() {
		// Queue everything first, with no agent connected.
		var ids []string
		for i := 0; i < 100; i++ {
			var wf ci.Workflow
			e.Do("POST", "/api/v1/projects/bench/workflows", map[string]any{"branch": fmt.Sprintf("b%03d", i)}, &wf, http.StatusCreated)
			ids = append(ids, wf.ID)
		}
		e.Eventually(5*time.Minute, func() bool {
			var q []map[string]any
			e.Do("GET", "/api/v1/queue", nil, &q)
			return len(q) >= 500 // the queue view is capped at 500
		}, "jobs queued")
		start := time.Now()
		for i := 0; i < 20; i++ {
			e.StartAgent(b, fmt.Sprintf("drain-%d", i), "e1-standard-2", 1)
		}
		var done time.Time
		jobs := 0
		agents := map[string]int{}
		// A job whose agent was declared lost (a loaded machine can keep
		// an agent unheard for LostAfter) is counted, and the drain is
		// measured to the end; any other failure ends the benchmark.
		lost := map[string]bool{}
		for _, id := range ids {
			wf := waitWorkflowQuietly(b, e, id, 30*time.Minute)
			if wf.Result != ci.ResultPassed {
				other := false
				for name, j := range wf.Jobs() {
					if j.Result != ci.ResultPassed {
						b.Logf("job %s: %s %s on agent %s; log tail: %q", name, j.Result, j.Reason, j.AgentID, tail(e.Log(j.ID), 300))
						lost[j.ID] = j.Reason == ci.ReasonAgentLost
						other = other || !lost[j.ID]
					}
				}
				if other {
					b.Fatalf("workflow %s = %s", id, wf.Result)
				}
			}
			for name, j := range wf.Jobs() {
				jobs++
				agents[j.AgentID]++
				if j.DoneAt.After(done) {
					done = j.DoneAt
				}
				_ = name
			}
		}
		elapsed := done.Sub(start)
		if jobs != 5000 {
			b.Fatalf("jobs = %d, want 5000", jobs)
		}
		// Every log complete and every job's line exactly once.
		for _, id := range ids {
			var w testenv.Workflow
			e.Do("GET", "/api/v1/workflows/"+id, nil, &w)
			for name, j := range w.Jobs() {
				if lost[j.ID] {
					continue
				}
				log := e.Log(j.ID)
				want := "\nran " + strings.TrimPrefix(name, "B/") + " of " + w.Branch + "\n"
				if n := strings.Count(log, want); n != 1 {
					b.Fatalf("job %s of %s: its line appears %d times", name, w.Branch, n)
				}
				if !strings.Contains(log, "Exporting SEMAPHORE_JOB_RESULT") {
					b.Fatalf("job %s: log incomplete", name)
				}
			}
		}
		b.ReportMetric(5000/elapsed.Seconds(), "jobs/s")
		b.ReportMetric(elapsed.Seconds(), "drain-s")
		b.ReportMetric(float64(len(agents)), "agents-used")
		b.ReportMetric(float64(len(lost)), "jobs-agent-lost")
		b.Logf("5000 jobs drained in %v = %.1f jobs/s by %d agents; %d failed as agent_lost", elapsed.Round(time.Millisecond), 5000/elapsed.Seconds(), len(agents), len(lost))
		if len(lost) > 0 {
			b.Errorf("%d jobs failed as agent_lost", len(lost))
		}
	}
}

// waitWorkflowQuietly is testenv's WaitWorkflow asking twice a second
// rather than a hundred times: the drain's own polling must not take the
// CPU the agents and the server need (a workflow view of 50 jobs is a
// few milliseconds of CPU each time). The drain is measured from the
// jobs' end times, not from when the polling notices them.
func waitWorkflowQuietly(b *testing.B, e *testenv.Env, id string, timeout time.Duration) *testenv.Workflow {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+id, nil, &w)
		if w.State == ci.StateDone {
			return &w
		}
		if time.Now().After(deadline) {
			b.Fatalf("workflow %s not done after %v: %s", id, timeout, w.State)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// BenchmarkIdleMemory: resident memory of an idle `baton server` and an
// idle `baton agent`, as separate processes.
func BenchmarkIdleMemory(b *testing.B) {
	bin := baton(b)
	for b.Loop() {
		dir := b.TempDir()
		srv := exec.Command(bin, "server", "--data", dir, "--addr", "127.0.0.1:0")
		out, _ := srv.StdoutPipe()
		srv.Start()
		buf := make([]byte, 4096)
		n, _ := out.Read(buf)
		go io.Copy(io.Discard, out)
		text := string(buf[:n])
		for !strings.Contains(text, "--token") {
			m, err := out.Read(buf)
			if err != nil {
				b.Fatalf("server output: %q", text)
			}
			text += string(buf[:m])
		}
		url := strings.Fields(text[strings.Index(text, "--server ")+9:])[0]
		token := strings.Fields(text[strings.Index(text, "--token ")+8:])[0]
		ag := exec.Command(bin, "agent", "--server", url, "--token", token, "--data", b.TempDir())
		ag.Start()
		time.Sleep(5 * time.Second)
		b.ReportMetric(rssMiB(srv.Process.Pid), "server-rss-MiB")
		b.ReportMetric(rssMiB(ag.Process.Pid), "agent-rss-MiB")
		ag.Process.Signal(syscall.SIGTERM)
		ag.Wait()
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}
}

func rssMiB(pid int) float64 { return procMiB(pid, "status", "VmRSS:") }

// pssMiB is a process's proportional set size: its resident memory with
// each page shared with other processes (the text of a binary two servers
// run) counted in shares, so that the PSS of processes adds up to what
// they cost together.
func pssMiB(pid int) float64 { return procMiB(pid, "smaps_rollup", "Pss:") }

// procMiB reads the kB value of field in /proc/PID/file, in MiB (-1 if
// unknown).
func procMiB(pid int, file, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	return -1
}

// BenchmarkTriggerToFirstCommandInContainer: trigger → first command
// running in a job's container (image cached) on an agent with Docker,
// against a raw `docker run --rm IMAGE true` in the same run.
func BenchmarkTriggerToFirstCommandInContainer(b *testing.B) {
	probe.Require(b, probe.Docker)
	e := testenv.Start(b, testenv.Options{})
	d := docker.New(docker.Options{AgentID: fmt.Sprintf("bench-%d", time.Now().UnixNano())})
	sw := executor.Switch{Host: shell.New(shell.Options{}), Containers: d}
	e.StartAgentWith(b, "docker-bench", "e1-standard-2", 1, testenv.AgentOptions{Executor: sw, Executors: []string{"shell", "docker"}})
	repo := testenv.NewRepo(b, map[string]string{".semaphore/semaphore.yml": "version: v1.0\nagent:\n  machine:\n    type: e1-standard-2\n  containers:\n    - name: main\n      image: baton-test/debian\nblocks:\n  - task:\n      jobs:\n        - name: Run\n          commands:\n            - \"true\"\n"})
	e.Do("POST", "/api/v1/projects", map[string]any{"name": "bench", "repo_url": repo.URL(), "default_branch": "main"}, nil, http.StatusCreated)
	const runs = 10
	for b.Loop() {
		var lat, raw []time.Duration
		for i := 0; i < runs; i++ {
			start := time.Now()
			id := trigger(e)
			wf := e.WaitWorkflow(id, 2*time.Minute)
			if wf.Result != ci.ResultPassed {
				b.Fatalf("result %s", wf.Result)
			}
			lat = append(lat, firstCommandStart(b, e, wf.Jobs()["Nameless block 1/Run"].ID).Sub(start))
			start = time.Now()
			if out, err := exec.Command("docker", "run", "--rm", "baton-test/debian", "true").CombinedOutput(); err != nil {
				b.Fatalf("docker run: %v\n%s", err, out)
			}
			raw = append(raw, time.Since(start))
		}
		b.ReportMetric(float64(percentile(lat, 0.5).Milliseconds()), "baton-p50-ms")
		b.ReportMetric(float64(percentile(raw, 0.5).Milliseconds()), "docker-run-p50-ms")
		b.ReportMetric(float64(percentile(lat, 0.5))/float64(percentile(raw, 0.5)), "ratio")
	}
}
