package server_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testenv/probe"
)

const slowPipeline = `version: v1.0
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Slow
    task:
      jobs:
        - name: Work
          commands:
            - echo before
            - %s
            - echo after
`

// startAgentProcess runs `baton agent` as a real process.
func startAgentProcess(t *testing.T, e *testenv.Env, name string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testenv.BatonBinary(t), "agent", "--server", e.URL, "--token", e.AgentToken, "--name", name, "--type", "e1-standard-2", "--data", t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("agent %s output:\n%s", name, out.String())
		}
	})
	return cmd
}

func waitJobState(t *testing.T, e *testenv.Env, wfID, job string, st ci.State) *ci.Job {
	t.Helper()
	var j *ci.Job
	e.Eventually(30*time.Second, func() bool {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+wfID, nil, &w)
		j = w.Jobs()[job]
		return j != nil && j.State == st
	}, "job %s %s", job, st)
	return j
}

// TestAgentKilledMidJobFailsTheJobAsLost: a real agent process is killed
// with SIGKILL while it runs a job; the job must be failed with reason
// agent_lost within the lost-agent timeout, not stay running forever.
func TestAgentKilledMidJobFailsTheJobAsLost(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{LostAfter: 2 * time.Second})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": fmt.Sprintf(slowPipeline, "sleep 600")})
	createProject(t, e, "app", repo, nil)
	agent := startAgentProcess(t, e, "doomed")
	id := run(t, e, "app", "main")
	waitJobState(t, e, id, "Slow/Work", ci.StateRunning)
	killed := time.Now()
	syscall.Kill(-agent.Process.Pid, syscall.SIGKILL)
	wf := e.WaitWorkflow(id, 30*time.Second)
	j := wf.Jobs()["Slow/Work"]
	if j.Result != ci.ResultFailed || j.Reason != ci.ReasonAgentLost {
		t.Errorf("job = %s/%s, want failed/agent_lost", j.Result, j.Reason)
	}
	if d := time.Since(killed); d > 15*time.Second {
		t.Errorf("agent loss noticed after %s, want within 15 s", d)
	}
	var view apiv1.AgentsView
	e.Do("GET", "/api/v1/agents", nil, &view)
	agents := view.Agents
	if len(agents) != 1 || agents[0].State != string(ci.AgentLost) {
		t.Errorf("agents = %+v, want the one agent lost", agents)
	}
}

// TestServerRestartMidJobDoesNotFailIt: the server stops while a job runs
// and comes back on the same address and data; the agent reconnects, the
// job finishes and its log is complete.
func TestServerRestartMidJobDoesNotFailIt(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	e := testenv.Start(t, testenv.Options{DataDir: dir, Addr: addr, LostAfter: 10 * time.Second})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": fmt.Sprintf(slowPipeline, "for i in $(seq 1 30); do echo tick $i; sleep 0.1; done")})
	createProject(t, e, "app", repo, nil)
	e.StartAgent(t, "steady", "e1-standard-2", 1)
	id := run(t, e, "app", "main")
	waitJobState(t, e, id, "Slow/Work", ci.StateRunning)
	e.Stop()
	time.Sleep(500 * time.Millisecond)
	e2 := testenv.Start(t, testenv.Options{DataDir: dir, Addr: addr, LostAfter: 10 * time.Second})
	wf := e2.WaitWorkflow(id, 60*time.Second)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow = %s, want passed after the server restart", wf.Result)
	}
	log := e2.Log(wf.Jobs()["Slow/Work"].ID)
	for i := 1; i <= 30; i++ {
		if !strings.Contains(log, fmt.Sprintf("tick %d\n", i)) {
			t.Fatalf("log lacks tick %d:\n%s", i, log)
		}
	}
	if strings.Count(log, "tick 7\n") != 1 || !strings.Contains(log, "after") {
		t.Errorf("log has duplicates or misses the end:\n%s", log)
	}
}

// TestQueueSerialisesPushesAndAutoCancelStopsOlder: two runs on one branch
// wait for each other (the default queue); with auto_cancel running, a
// newer pipeline stops the older one.
func TestQueueSerialisesPushesAndAutoCancelStopsOlder(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a", "e1-standard-2", 4)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": fmt.Sprintf(slowPipeline, "sleep 1")})
	createProject(t, e, "app", repo, nil)
	first := run(t, e, "app", "main")
	second := run(t, e, "app", "main")
	w1 := e.WaitWorkflow(first, 30*time.Second)
	w2 := e.WaitWorkflow(second, 30*time.Second)
	j1, j2 := w1.Jobs()["Slow/Work"], w2.Jobs()["Slow/Work"]
	if w1.Result != ci.ResultPassed || w2.Result != ci.ResultPassed {
		t.Fatalf("results = %s, %s", w1.Result, w2.Result)
	}
	if j2.StartedAt.Before(j1.DoneAt) {
		t.Errorf("second pipeline started at %s before the first finished at %s: the queue did not serialise", j2.StartedAt, j1.DoneAt)
	}

	repo.Commit("auto cancel", map[string]string{".semaphore/semaphore.yml": strings.Replace(fmt.Sprintf(slowPipeline, "sleep 600"), "blocks:", "auto_cancel:\n  running:\n    when: \"true\"\nblocks:", 1)})
	old := run(t, e, "app", "main")
	waitJobState(t, e, old, "Slow/Work", ci.StateRunning)
	run(t, e, "app", "main")
	w := e.WaitWorkflow(old, 30*time.Second)
	p := w.Pipelines[0]
	if p.Result != ci.ResultStopped || p.Reason != ci.ReasonStrategy {
		t.Errorf("older pipeline = %s/%s, want stopped/strategy", p.Result, p.Reason)
	}
}

// postgresDSN returns a fresh database on the test PostgreSQL server, or
// skips (fails in CI) when there is none.
func postgresDSN(t *testing.T) string {
	t.Helper()
	probe.Require(t, probe.Postgres)
	base := probe.PostgresDSN()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("baton_scenario_%d", time.Now().UnixNano())
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		db.Close()
	})
	return strings.Replace(base, "/postgres?", "/"+name+"?", 1)
}

// TestTwoServersOnOnePostgreSQL: two servers share one database, agents
// connect to either; every job of many workflows runs exactly once.
func TestTwoServersOnOnePostgreSQL(t *testing.T) {
	t.Parallel()
	dsn := postgresDSN(t)
	// The servers share the database and the data directory (logs), as
	// servers on shared storage do.
	shared := t.TempDir()
	e1 := testenv.Start(t, testenv.Options{DB: dsn, DataDir: shared})
	e2 := testenv.Start(t, testenv.Options{DB: dsn, DataDir: shared})
	for i := 0; i < 2; i++ {
		e1.StartAgent(t, fmt.Sprintf("on-1-%d", i), "e1-standard-2", 2)
		e2.StartAgent(t, fmt.Sprintf("on-2-%d", i), "e1-standard-2", 2)
	}
	pipeline := "version: v1.0\nagent:\n  machine:\n    type: e1-standard-2\nblocks:\n  - task:\n      jobs:\n"
	for j := 0; j < 5; j++ {
		pipeline += fmt.Sprintf("        - name: J%d\n          commands:\n            - echo job %d of $SEMAPHORE_WORKFLOW_ID\n", j, j)
	}
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": pipeline})
	createProject(t, e1, "app", repo, map[string]any{"default_branch": "main"})
	// Different branches, so the queues do not serialise the workflows.
	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		branch := fmt.Sprintf("b%d", i)
		repo.Git("branch", "-f", branch, "main")
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := e1
			if i%2 == 1 {
				e = e2
			}
			id := run(t, e, "app", branch)
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		}()
	}
	wg.Wait()
	agentsUsed := map[string]bool{}
	for _, id := range ids {
		wf := e2.WaitWorkflow(id, 60*time.Second)
		if wf.Result != ci.ResultPassed {
			t.Fatalf("workflow %s = %s", id, wf.Result)
		}
		for name, j := range wf.Jobs() {
			// The other server may publish the log's last chunk a moment
			// after the job's result: wait for it, but never accept a
			// line printed twice.
			probe.Eventually(t, 15*time.Second, func() error {
				if n := strings.Count(e1.Log(j.ID), "\njob "); n != 1 {
					return fmt.Errorf("job %s printed its line %d times, want once", name, n)
				}
				return nil
			})
			agentsUsed[j.AgentID] = true
		}
	}
	if len(agentsUsed) < 2 {
		t.Errorf("only %d agent(s) ran jobs; both servers' agents should", len(agentsUsed))
	}
}
