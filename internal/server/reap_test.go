package server_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testenv/probe"
)

// spawnScript starts processes that try to outlive their job: one in a
// new session (setsid), one immune to hang-ups (nohup), one orphaned
// daemon-style by a double fork, and it prints their process IDs and the
// job shell's own.
const spawnScript = `echo "PID shell $$"
setsid sleep 1001 </dev/null >/dev/null 2>&1 &
echo "PID setsid $!"
nohup sleep 1002 </dev/null >/dev/null 2>&1 &
echo "PID nohup $!"
( setsid sh -c 'sleep 1003 </dev/null >/dev/null 2>&1 & echo "PID daemon $!"' & )
sleep 0.5
`

// pidLine matches a whole line: the log may end in the first part of one
// ("PID daemon 12" of "PID daemon 1234"), which must not be read as a
// process ID.
var pidLine = regexp.MustCompile(`(?m)^PID (\w+) (\d+)\n`)

// startSpawningJob runs a job that sources spawnScript and then sleeps,
// on a real agent process with data directory data, and returns the
// agent and the job's processes by name once they all run.
func startSpawningJob(t *testing.T, e *testenv.Env, data string) (agent *exec.Cmd, procs map[string]int) {
	t.Helper()
	createSpawningProject(t, e)
	agent = startAgentOn(t, e, "reaped", data)
	return agent, runSpawningJob(t, e)
}

// createSpawningProject creates the project "app" whose job sources
// spawnScript and then sleeps.
func createSpawningProject(t *testing.T, e *testenv.Env) {
	t.Helper()
	repo := testenv.NewRepo(t, map[string]string{
		".semaphore/semaphore.yml": fmt.Sprintf(slowPipeline, "checkout && source spawn.sh && sleep 600"),
		"spawn.sh":                 spawnScript,
	})
	createProject(t, e, "app", repo, nil)
}

// runSpawningJob runs app's job and returns its processes by name once
// they all run.
func runSpawningJob(t *testing.T, e *testenv.Env) (procs map[string]int) {
	t.Helper()
	id := run(t, e, "app", "main")
	job := waitJobState(t, e, id, "Slow/Work", ci.StateRunning)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("job log:\n%s", e.Log(job.ID))
		}
	})
	e.Eventually(30*time.Second, func() bool {
		procs = map[string]int{}
		for _, m := range pidLine.FindAllStringSubmatch(e.Log(job.ID), -1) {
			procs[m[1]], _ = strconv.Atoi(m[2])
		}
		return len(procs) == 4
	}, "the job printed its 4 process IDs")
	for name, pid := range procs {
		if !processAlive(pid) {
			t.Fatalf("the job's %s process %d is not running: the test proves nothing", name, pid)
		}
	}
	return procs
}

// startAgentOn runs `baton agent` as a real process on data; the test's
// cleanup kills its process group.
func startAgentOn(t *testing.T, e *testenv.Env, name, data string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testenv.BatonBinary(t), "agent", "--server", e.URL, "--token", e.AgentToken, "--name", name, "--type", "e1-standard-2", "--executor", "shell", "--data", data)
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
			t.Logf("agent output:\n%s", out.String())
		}
	})
	return cmd
}

// processAlive reports whether pid is a live, not zombie, process.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && len(b) > i+2 && b[i+2] != 'Z'
}

// waitGone waits up to d for every process of procs to be gone, and fails
// the test naming those still running d after what happened.
func waitGone(t *testing.T, procs map[string]int, d time.Duration, after string) {
	t.Helper()
	probe.Eventually(t, d, func() error {
		var left []string
		for name, pid := range procs {
			if processAlive(pid) {
				left = append(left, fmt.Sprintf("%s (%d)", name, pid))
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("still running %v after %s: %s", d, after, strings.Join(left, ", "))
		}
		return nil
	})
}

// TestKilledAgentTakesItsJobsProcessesWithIt: a real agent process is
// killed with SIGKILL (it gets no chance to stop anything) while its job
// runs processes that left the job's process group; every one of them is
// gone within seconds.
func TestKilledAgentTakesItsJobsProcessesWithIt(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{LostAfter: 2 * time.Second})
	agent, procs := startSpawningJob(t, e, t.TempDir())
	if err := agent.Process.Kill(); err != nil { // the agent alone, not its group
		t.Fatal(err)
	}
	agent.Wait()
	waitGone(t, procs, 5*time.Second, "the agent was killed")
}

// TestKilledBatonUpTakesItsJobsProcessesWithIt: the same for `baton up`,
// whose built-in agent runs in the server's process.
func TestKilledBatonUpTakesItsJobsProcessesWithIt(t *testing.T) {
	t.Parallel()
	up, e := startBatonUp(t, testenv.BatonBinary(t), filepath.Join(t.TempDir(), "data"))
	createSpawningProject(t, e)
	procs := runSpawningJob(t, e)
	if err := up.Process.Kill(); err != nil { // baton up alone, not its group
		t.Fatal(err)
	}
	waitGone(t, procs, 5*time.Second, "baton up was killed")
}

// TestRestartedAgentKillsWhatItsJobsLeft: the job's supervisor and then
// the agent are killed with SIGKILL, so nothing was there to stop the
// job's processes; the agent, started again on the same data directory,
// kills those of the job's process group before it takes work.
//
// The server must not give the job up meanwhile: when it declares an
// agent lost it fails the agent's jobs, and the agent's next poll is
// told to stop them, which kills the job's shell before the test kills
// anything. With a 2 s LostAfter a busy agent on a loaded machine can be
// declared lost (the drain benchmark saw it), and then the test fails on
// its own guard below. So the server waits a minute, far longer than
// the test needs.
func TestRestartedAgentKillsWhatItsJobsLeft(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{LostAfter: time.Minute})
	data := t.TempDir()
	agent, procs := startSpawningJob(t, e, data)
	t.Cleanup(func() {
		if !t.Failed() {
			return // all gone (waitGone), and their IDs may be another's now
		}
		syscall.Kill(-procs["shell"], syscall.SIGKILL)
		for _, pid := range procs {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	supervisor := parentPid(procs["shell"])
	if supervisor == agent.Process.Pid {
		t.Fatal("the job's shell is the agent's child: no supervisor")
	}
	// Both are stopped first, so that neither sees the other die and
	// cleans up (on a loaded machine the agent had time to notice its
	// supervisor's death before its own SIGKILL arrived).
	for _, pid := range []int{agent.Process.Pid, supervisor} {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Kill(supervisor, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := agent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	agent.Wait()
	// Those in the job's process group (the escaped ones were the
	// supervisor's to kill, and it was killed first).
	group := map[string]int{"shell": procs["shell"], "nohup": procs["nohup"]}
	time.Sleep(500 * time.Millisecond)
	for name, pid := range group {
		if !processAlive(pid) {
			t.Fatalf("the job's %s process %d died with its supervisor: the test proves nothing (the job's log and the agent's output below say whether the job was stopped)", name, pid)
		}
	}
	startAgentOn(t, e, "reaped", data)
	waitGone(t, group, 10*time.Second, "the agent restarted")
}
