package server_test

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/docker"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/imagecache"
	"github.com/batonci/baton/internal/reaper"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testenv/probe"
)

const containerPipeline = `version: v1.0
name: Containers
agent:
  machine:
    type: e1-standard-2
  containers:
    - name: main
      image: baton-test/debian
    - name: svc
      image: baton-test/busybox
      command: sh -c 'while true; do printf "%s" "$GREETING" | nc -l -p 1234; done'
      env_vars:
        - name: GREETING
          value: hello from the service
blocks:
  - name: Build
    task:
      jobs:
        - name: Talk
          commands:
            - checkout
            - cat hello.txt
            - for i in $(seq 50); do exec 3<>/dev/tcp/svc/1234 && break; sleep 0.1; done
            - cat <&3; echo
            - hostname
            - echo "env type $SEMAPHORE_AGENT_MACHINE_ENVIRONMENT_TYPE"
`

// dockerAgent starts an agent whose executor runs container jobs with
// Docker, labelled with its own id.
func dockerAgent(t *testing.T, e *testenv.Env, name, id string) {
	t.Helper()
	d := docker.New(docker.Options{AgentID: id, GracePeriod: time.Second})
	images, err := imagecache.New(imagecache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := images.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(images.Wait)
	sw := executor.Switch{Host: shell.New(shell.Options{}), Containers: images.Executor(d)}
	e.StartAgentWith(t, name, "e1-standard-2", 1, testenv.AgentOptions{Executor: sw, Executors: []string{"shell", "docker"}, Images: images.Images})
}

// labelled lists what Docker holds with an agent's label.
func labelled(t *testing.T, id string) string {
	t.Helper()
	var out strings.Builder
	for _, args := range [][]string{
		{"ps", "-aq", "--filter", "label=" + docker.LabelAgent + "=" + id},
		{"network", "ls", "-q", "--filter", "label=" + docker.LabelAgent + "=" + id},
		{"volume", "ls", "-q", "--filter", "label=" + docker.LabelAgent + "=" + id},
	} {
		b, err := exec.Command("docker", args...).Output()
		if err != nil {
			t.Fatalf("docker %v: %v", args, err)
		}
		out.Write(b)
	}
	return strings.TrimSpace(out.String())
}

func TestContainerJobOnDockerAgent(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	id := fmt.Sprintf("server-test-%d", time.Now().UnixNano())
	dockerAgent(t, e, "docker-1", id)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": containerPipeline, "hello.txt": "hello from the repo\n"})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 2*time.Minute)
	job := wf.Jobs()["Build/Talk"]
	log := e.Log(job.ID)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow result = %s, want passed; log:\n%s", wf.Result, log)
	}
	for _, want := range []string{"hello from the repo", "hello from the service", "\nmain\n", "env type container", "Service svc (baton-test/busybox) started"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if left := labelled(t, id); left != "" {
		t.Errorf("left behind after the job: %s", left)
	}
	var view apiv1.AgentsView
	e.Do("GET", "/api/v1/agents", nil, &view)
	agents := view.Agents
	if len(agents) != 1 || !slices.Contains(agents[0].Images, "baton-test/debian:latest") {
		t.Errorf("agents = %+v, want the docker agent reporting baton-test/debian:latest", agents)
	}
}

func TestContainerJobWaitsForADockerAgent(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "shell-1", "e1-standard-2", 1) // no Docker
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": containerPipeline, "hello.txt": "hello\n"})
	createProject(t, e, "app", repo, nil)
	wfID := run(t, e, "app", "main")
	var job *ci.Job
	e.Eventually(30*time.Second, func() bool {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+wfID, nil, &w)
		job = w.Jobs()["Build/Talk"]
		return job != nil && job.State == ci.StateQueued && job.WaitReason != ""
	}, "the container job queued")
	var view struct {
		WaitReason string `json:"wait_reason"`
	}
	e.Do("GET", "/api/v1/jobs/"+job.ID, nil, &view)
	if want := "no connected agent of type e1-standard-2 can run Docker jobs"; view.WaitReason != want {
		t.Errorf("wait reason = %q, want %q", view.WaitReason, want)
	}
	// The shell agent polls meanwhile and must leave the job alone.
	time.Sleep(500 * time.Millisecond)
	var w testenv.Workflow
	e.Do("GET", "/api/v1/workflows/"+wfID, nil, &w)
	if j := w.Jobs()["Build/Talk"]; j.State != ci.StateQueued {
		t.Fatalf("job state = %s (agent %s), want still queued", j.State, j.AgentID)
	}
	id := fmt.Sprintf("server-test-%d", time.Now().UnixNano())
	dockerAgent(t, e, "docker-1", id)
	wf := e.WaitWorkflow(wfID, 2*time.Minute)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow result = %s, want passed; log:\n%s", wf.Result, e.Log(wf.Jobs()["Build/Talk"].ID))
	}
}

// killedDockerAgent runs a real `baton agent` process with the docker
// executor and a job with a service container whose command runs, then
// kills the agent with SIGKILL (with its job supervisors first when
// killSupervisors). It returns the agent's identity, a function that
// starts the agent again on the same data, and the workflow's ID.
func killedDockerAgent(t *testing.T, e *testenv.Env, killSupervisors bool) (identity string, restart func(), workflow string) {
	t.Helper()
	name := fmt.Sprintf("crash-%d", time.Now().UnixNano())
	data := t.TempDir()
	bin := testenv.BatonBinary(t)
	startAgent := func() *exec.Cmd {
		cmd := exec.Command(bin, "agent", "--server", e.URL, "--token", e.AgentToken, "--name", name, "--type", "e1-standard-2", "--executor", "docker", "--data", data)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
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
	pipeline := strings.Replace(containerPipeline, "            - checkout\n", "            - sleep 600\n", 1)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": pipeline, "hello.txt": "x\n"})
	createProject(t, e, "app", repo, nil)
	proc := startAgent()
	id := run(t, e, "app", "main")
	job := waitJobState(t, e, id, "Build/Talk", ci.StateRunning)
	// Kill it once the containers are up and the job's command runs.
	e.Eventually(90*time.Second, func() bool { return strings.Contains(e.Log(job.ID), "$ sleep 600") }, "the job's command running")
	identity = agent.Identity(name, data)
	if labelled(t, identity) == "" {
		t.Fatalf("nothing labelled %s: the test proves nothing", identity)
	}
	if killSupervisors {
		sups := childrenNamed(proc.Process.Pid, reaper.Name)
		if len(sups) == 0 {
			t.Fatal("the agent runs no job supervisor")
		}
		for _, pid := range sups {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	proc.Process.Kill() // the agent alone, not its process group
	proc.Wait()
	return identity, func() { startAgent() }, id
}

// childrenNamed returns the children of pid whose program name is name.
func childrenNamed(pid int, name string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		child, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + ent.Name() + "/cmdline")
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if argv0 == name && parentPid(child) == pid {
			out = append(out, child)
		}
	}
	return out
}

// parentPid returns the parent process ID of pid, or 0.
func parentPid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// TestKilledDockerAgentTakesItsContainersWithIt: a real `baton agent`
// process running a container job with a service is killed with SIGKILL;
// the job's containers and network are removed within seconds, without
// waiting for the agent to come back.
func TestKilledDockerAgentTakesItsContainersWithIt(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	e := testenv.Start(t, testenv.Options{LostAfter: 2 * time.Second})
	identity, _, _ := killedDockerAgent(t, e, false)
	e.Eventually(30*time.Second, func() bool { return labelled(t, identity) == "" }, "the killed agent's job supervisor removed its containers (still: %s)", labelled(t, identity))
}

// TestRestartedAgentRemovesItsLeftoverContainers: a real `baton agent`
// process running a container job with a service is killed with SIGKILL,
// its job supervisor too, which leaves the containers and network behind;
// started again on the same data, the agent removes them before taking
// work.
func TestRestartedAgentRemovesItsLeftoverContainers(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	e := testenv.Start(t, testenv.Options{LostAfter: 2 * time.Second})
	identity, restart, id := killedDockerAgent(t, e, true)
	time.Sleep(time.Second)
	if labelled(t, identity) == "" {
		t.Fatal("nothing left behind by the killed agent: the test proves nothing")
	}
	restart()
	e.Eventually(60*time.Second, func() bool { return labelled(t, identity) == "" }, "the restarted agent removed what the killed one left (still: %s)", labelled(t, identity))
	wf := e.WaitWorkflow(id, 60*time.Second)
	if j := wf.Jobs()["Build/Talk"]; j.Result != ci.ResultFailed || j.Reason != ci.ReasonAgentLost {
		t.Errorf("job = %s/%s, want failed/agent_lost", j.Result, j.Reason)
	}
}
