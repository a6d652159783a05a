package server_test

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/docker"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testenv/probe"
)

// The service images are the stand-ins scripts/docker-setup.sh builds
// from Debian's packages under the official names (redis:7, postgres:15):
// real servers, no registry.
const semServicePipeline = `version: v1.0
name: Services
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Shell
    dependencies: []
    task:
      jobs:
        - name: Services
          commands:
            - sem-service start redis 7
            - exec 3<>/dev/tcp/127.0.0.1/6379; printf 'PING\r\n' >&3; read -r pong <&3; echo "redis answered $pong"
            - sem-service start postgres 15 --username app --password s3cret --db appdb
            - PGPASSWORD=s3cret psql -h 127.0.0.1 -U app -d appdb -tAc "select 'postgres answered ' || current_database()"
            - sem-service status
            - sem-service status redis
            - if sem-service start redis 7; then echo "started twice"; exit 1; fi
            - if sem-service start nginx; then echo "started nginx"; exit 1; fi
            - if sem-service start redis 1; then echo "started redis 1"; exit 1; fi
            - sem-service stop redis
            - if sem-service status redis; then echo "redis still listed"; exit 1; fi
            - sem-service stop redis
  - name: Container
    dependencies: [Shell]
    task:
      agent:
        machine:
          type: e1-standard-2
        containers:
          - name: main
            image: baton-test/debian
      jobs:
        - name: Services
          commands:
            - sem-service start redis 7
            - exec 3<>/dev/tcp/127.0.0.1/6379; printf 'PING\r\n' >&3; read -r pong <&3; echo "redis in the job's container answered $pong"
`

// serviceAgent starts an in-process agent with the docker executor and
// sem-service through it, labelled with id.
func serviceAgent(t *testing.T, e *testenv.Env, id string) {
	t.Helper()
	d := docker.New(docker.Options{AgentID: id, GracePeriod: time.Second})
	sw := executor.Switch{Host: shell.New(shell.Options{}), Containers: d}
	e.StartAgentWith(t, "services", "e1-standard-2", 1, testenv.AgentOptions{Executor: sw, Executors: []string{"shell", "docker"},
		Services: func(jobID string, inContainers bool) agent.JobServices { return d.Services(jobID, inContainers) }})
}

// TestSemService: a job on this machine and a job in a container start
// real Redis and PostgreSQL servers with sem-service and reach them on
// 127.0.0.1 at their usual ports; unknown services and versions are
// refused with what is available; nothing is left when the jobs end.
func TestSemService(t *testing.T) {
	probe.Require(t, probe.Docker)
	e := testenv.Start(t, testenv.Options{})
	id := fmt.Sprintf("semservice-test-%d", time.Now().UnixNano())
	serviceAgent(t, e, id)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": semServicePipeline})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 5*time.Minute)
	if wf.Jobs()["Shell/Services"] == nil || wf.Jobs()["Container/Services"] == nil {
		t.Fatalf("workflow %+v has no Shell/Services and Container/Services jobs", wf)
	}
	shellLog := e.Log(wf.Jobs()["Shell/Services"].ID)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow result = %s, want passed; shell job's log:\n%s\ncontainer job's log:\n%s", wf.Result, shellLog, e.Log(wf.Jobs()["Container/Services"].ID))
	}
	for _, want := range []string{
		"Redis 7 is running at 127.0.0.1:6379",
		"redis answered +PONG",
		"PostgreSQL 15 is running at 127.0.0.1:5432\nTo access it use username 'app' and the password given.",
		"postgres answered appdb",
		"postgres 15 (postgres:15) running at 127.0.0.1:5432\nredis 7 (redis:7) running at 127.0.0.1:6379",
		"sem-service: cannot start redis: redis: already running",
		`sem-service: cannot start nginx: unknown service "nginx"; sem-service starts postgres, mysql, redis, mongodb, elasticsearch, memcached, rabbitmq`,
		`sem-service: cannot start redis: redis version "1" is not available; versions: 2.8,`,
		"sem-service: 'redis' stopped",
		"sem-service: 'redis' not running",
		"sem-service: no running service named 'redis' was found; skipping",
	} {
		if !strings.Contains(shellLog, want) {
			t.Errorf("shell job's log lacks %q:\n%s", want, shellLog)
		}
	}
	if log := e.Log(wf.Jobs()["Container/Services"].ID); !strings.Contains(log, "redis in the job's container answered +PONG") {
		t.Errorf("container job's log:\n%s", log)
	}
	if left := labelled(t, id); left != "" {
		t.Errorf("left behind after the jobs: %s", left)
	}
}

// TestSemServiceWithoutDocker: on an agent without Docker, sem-service
// fails with one line that says so.
func TestSemServiceWithoutDocker(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgentWith(t, "plain", "e1-standard-2", 1, testenv.AgentOptions{NoServices: "sem-service needs Docker, and this agent has none: docker is not available"})
	pipeline := strings.Replace(semServicePipeline, "            - sem-service start redis 7\n", "            - sem-service start redis 7 || echo \"exit status $?\"\n            - exit 0\n", 1)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": pipeline})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 2*time.Minute)
	log := e.Log(wf.Jobs()["Shell/Services"].ID)
	want := "Starting redis...\nsem-service: sem-service needs Docker, and this agent has none: docker is not available\nexit status 1\n"
	if !strings.Contains(log, want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
}

// TestKilledAgentTakesItsServicesWithIt: a real `baton agent` process
// whose shell job started a service with sem-service is killed with
// SIGKILL; the service's container is removed within seconds by its job
// supervisor, without waiting for the agent to come back.
func TestKilledAgentTakesItsServicesWithIt(t *testing.T) {
	probe.Require(t, probe.Docker)
	e := testenv.Start(t, testenv.Options{LostAfter: 2 * time.Second})
	name := fmt.Sprintf("svc-crash-%d", time.Now().UnixNano())
	data := t.TempDir()
	cmd := exec.Command(testenv.BatonBinary(t), "agent", "--server", e.URL, "--token", e.AgentToken, "--name", name, "--type", "e1-standard-2", "--executor", "docker", "--data", data)
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
	pipeline := `version: v1.0
name: Crash
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Build
    task:
      jobs:
        - name: Talk
          commands:
            - sem-service start redis 7
            - sleep 600
`
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": pipeline})
	createProject(t, e, "app", repo, nil)
	id := run(t, e, "app", "main")
	job := waitJobState(t, e, id, "Build/Talk", ci.StateRunning)
	e.Eventually(90*time.Second, func() bool { return strings.Contains(e.Log(job.ID), "$ sleep 600") }, "the service started and the job sleeping")
	identity := agent.Identity(name, data)
	if labelled(t, identity) == "" {
		t.Fatalf("nothing labelled %s: the test proves nothing", identity)
	}
	cmd.Process.Kill() // the agent alone, not its process group
	cmd.Wait()
	e.Eventually(30*time.Second, func() bool { return labelled(t, identity) == "" }, "the killed agent's job supervisor removed the service (still: %s)", labelled(t, identity))
}
