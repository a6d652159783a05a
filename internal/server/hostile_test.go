package server_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testenv/probe"
)

// The hostile tests run Baton as it is deployed, `baton up` (and `baton
// agent`) processes as root, and a pipeline whose job attacks the
// service from inside: every attempt must fail, and the job's log must
// say so ("DENIED: what").

// serverCanary is in the environment of the Baton processes; no job may
// see it.
const serverCanary = "BATON_HOSTILE_CANARY=server-environment-canary"

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startBaton starts a baton process with args and returns it once it
// printed a line starting with ready (the rest of the line is returned).
func startBaton(t *testing.T, bin, ready string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, serverCanary)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out lockedBuffer
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		w.Close()
		if t.Failed() {
			t.Logf("%s output:\n%s", args[0], out.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			out.Write([]byte(line + "\n"))
			if rest, ok := strings.CutPrefix(line, ready); ok {
				select {
				case found <- strings.TrimSpace(rest):
				default:
				}
			}
		}
	}()
	select {
	case s := <-found:
		return cmd, s
	case <-time.After(30 * time.Second):
		t.Fatalf("baton %s did not print %q:\n%s", args[0], ready, out.String())
	}
	return nil, ""
}

// startBatonUp runs `baton up` as deployed and returns an Env on it.
func startBatonUp(t *testing.T, bin, data string) (*exec.Cmd, *testenv.Env) {
	t.Helper()
	cmd, url := startBaton(t, bin, "Baton is running at ", "up", "--data", data, "--addr", "127.0.0.1:0", "--slots", "2")
	// The default work directory of a baton run as root: what is left
	// there (the toolbox links) goes with the test.
	sum := sha256.Sum256([]byte(data))
	t.Cleanup(func() { os.RemoveAll(filepath.Join("/var/lib/baton/work", hex.EncodeToString(sum[:8]))) })
	tok, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	return cmd, testenv.Attach(t, url, strings.TrimSpace(string(tok)), data)
}

// tryFunc is the first command of a hostile job: `try WHAT CMD...` runs
// CMD and prints whether it was allowed.
const tryFunc = `'try() { what=$1; shift; if "$@" >/dev/null 2>&1; then echo "ALLOWED: $what"; else echo "DENIED: $what"; fi; }'`

// attempt is one thing a hostile job tries.
type attempt struct{ what, command string }

// dataDirAttempts are the attacks on a server's data directory and
// processes, from a job.
func dataDirAttempts(data string, pid int, agentToken string) []attempt {
	p := strconv.Itoa(pid)
	return []attempt{
		{"read secret.key", "cat " + data + "/secret.key"},
		{"read baton.db", "cat " + data + "/baton.db"},
		{"read admin-token", "cat " + data + "/admin-token"},
		{"read agent-token", "cat " + data + "/agent-token"},
		{"read the agent state", "cat " + data + "/agent/agent.json"},
		{"list the data directory", "ls " + data},
		{"list the mirrors", "ls " + data + "/repos"},
		{"list the agent mirrors", "ls " + data + "/agent/repos"},
		{"list the logs", "ls " + data + "/logs"},
		{"write in the data directory", "touch " + data + "/hostile"},
		{"read the server environ", "cat /proc/" + p + "/environ"},
		{"list the server files", "ls /proc/" + p + "/fd"},
		{"signal the server", "kill -TERM " + p},
		{"see the server environment", "grep -qaF " + strings.SplitN(serverCanary, "=", 2)[1] + " /proc/self/environ"},
		{"see the agent token", "grep -qaF " + agentToken + " /proc/self/environ"},
	}
}

// hostilePipeline is a pipeline of one job that makes the attempts.
func hostilePipeline(machine, containers string, before []string, attempts []attempt, after []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: v1.0\nname: Hostile\nagent:\n  machine:\n    type: %s\n%sblocks:\n  - name: Attack\n    task:\n      jobs:\n        - name: Probe\n          commands:\n", machine, containers)
	fmt.Fprintf(&b, "            - %s\n", tryFunc)
	b.WriteString("            - 'echo \"uid: $(id -u)\"'\n")
	for _, c := range before {
		fmt.Fprintf(&b, "            - %s\n", c)
	}
	for _, a := range attempts {
		fmt.Fprintf(&b, "            - %s\n", yamlQuote(fmt.Sprintf("try %q %s", a.what, a.command)))
	}
	for _, c := range after {
		fmt.Fprintf(&b, "            - %s\n", c)
	}
	return b.String()
}

func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// checkRefused asserts that the job passed and its log shows every
// attempt refused and none allowed; on the host (not in a container) the
// job must not have run as root.
func checkRefused(t *testing.T, e *testenv.Env, wfID string, attempts []attempt, onHost bool) {
	t.Helper()
	wf := e.WaitWorkflow(wfID, 180*time.Second)
	j := wf.Jobs()["Attack/Probe"]
	if j == nil {
		t.Fatalf("no hostile job in %+v", wf)
	}
	log := e.Log(j.ID)
	if j.Result != ci.ResultPassed {
		t.Fatalf("hostile job = %s/%s, want passed:\n%s", j.Result, j.Reason, log)
	}
	for _, a := range attempts {
		if !strings.Contains(log, "DENIED: "+a.what+"\n") {
			t.Errorf("the log does not show %q refused", a.what)
		}
	}
	if strings.Contains(log, "\nALLOWED: ") || (onHost && strings.Contains(log, "\nuid: 0\n")) {
		t.Errorf("the hostile job reached the service:\n%s", log)
	}
}

func TestHostileJobCannotReachTheServiceOnTheShellExecutor(t *testing.T) {
	probe.Require(t, probe.Root)
	t.Parallel()
	bin := testenv.BatonBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	up, e := startBatonUp(t, bin, data)
	agentToken, err := os.ReadFile(filepath.Join(data, "agent-token"))
	if err != nil {
		t.Fatal(err)
	}

	// A victim job of another project runs beside the hostile one and
	// tells where its home is, as if the attacker had found out.
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	where, done := "/tmp/baton-victim-"+nonce, "/tmp/baton-hostile-done-"+nonce
	t.Cleanup(func() { os.Remove(where); os.Remove(done) })
	victim := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": `version: v1.0
name: Victim
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Work
    task:
      jobs:
        - name: Secret
          commands:
            - checkout
            - echo victim-secret > $HOME/secret.txt
            - echo victim-cache > victim-cache-file && cache store victim-cache-key victim-cache-file
            - echo $HOME > ` + where + `.tmp && chmod 644 ` + where + `.tmp && mv ` + where + `.tmp ` + where + `
            - for i in $(seq 1200); do [ -e ` + done + ` ] && break; sleep 0.1; done
`, "private.txt": "victim source\n"})
	createProject(t, e, "victim", victim, nil)
	victimRun := run(t, e, "victim", "main")

	attempts := append(dataDirAttempts(data, up.Process.Pid, strings.TrimSpace(string(agentToken))),
		attempt{"read another job's home", `cat "$victim/secret.txt"`},
		attempt{"read another project's workspace", `cat "$victim"/*/private.txt`},
		attempt{"list the jobs", `ls "$(dirname "$victim")"`},
		attempt{"list the caches", "ls " + data + "/agent/cache"},
		attempt{"list the artifacts", "ls " + data + "/agent/artifacts"},
		attempt{"restore another project's cache", `sh -c 'cache restore victim-cache-key; test -s victim-cache-file'`},
		// The job's shell's parent is its supervisor, which kills the
		// job's processes should the agent die.
		attempt{"signal the job's supervisor", `kill -0 "$PPID"`},
	)
	before := []string{
		"for i in $(seq 600); do [ -s " + where + " ] && break; sleep 0.1; done",
		"victim=$(cat " + where + ")",
	}
	hostile := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": hostilePipeline("e1-standard-2", "", before, attempts, []string{"touch " + done})})
	createProject(t, e, "hostile", hostile, nil)
	checkRefused(t, e, run(t, e, "hostile", "main"), attempts, true)
	if wf := e.WaitWorkflow(victimRun, 60*time.Second); wf.Result != ci.ResultPassed {
		t.Errorf("victim workflow = %s", wf.Result)
	}
	if err := syscall.Kill(up.Process.Pid, 0); err != nil {
		t.Errorf("baton up is gone: %v", err)
	}
}

func TestHostileJobCannotReachTheServiceOnDocker(t *testing.T) {
	probe.Require(t, probe.Root)
	probe.Require(t, probe.Docker)
	t.Parallel()
	bin := testenv.BatonBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	up, e := startBatonUp(t, bin, data)
	agentToken, err := os.ReadFile(filepath.Join(data, "agent-token"))
	if err != nil {
		t.Fatal(err)
	}
	agentData := filepath.Join(t.TempDir(), "agent")
	work := filepath.Join(t.TempDir(), "work")
	machine := "hostile-docker-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	agent, _ := startBaton(t, bin, "agent ", "agent", "--server", e.URL, "--token", strings.TrimSpace(string(agentToken)),
		"--name", machine, "--type", machine, "--executor", "docker", "--data", agentData, "--work-dir", work)

	// A mirror and a job directory for the docker agent to hide: a first
	// run of another project.
	victim := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": "version: v1.0\nname: Victim\nagent:\n  machine:\n    type: " + machine + "\n  containers:\n    - name: main\n      image: baton-test/debian\nblocks:\n  - name: Work\n    task:\n      jobs:\n        - name: Secret\n          commands:\n            - checkout\n", "private.txt": "victim source\n"})
	createProject(t, e, "victim", victim, nil)
	if wf := e.WaitWorkflow(run(t, e, "victim", "main"), 180*time.Second); wf.Result != ci.ResultPassed {
		t.Fatalf("victim workflow = %s", wf.Result)
	}

	attempts := append(dataDirAttempts(data, up.Process.Pid, strings.TrimSpace(string(agentToken))),
		attempt{"read the docker agent state", "cat " + agentData + "/agent.json"},
		attempt{"list the docker agent mirrors", "ls " + agentData + "/repos"},
		attempt{"read the docker agent environ", "cat /proc/" + strconv.Itoa(agent.Process.Pid) + "/environ"},
		attempt{"signal the docker agent", "kill -TERM " + strconv.Itoa(agent.Process.Pid)},
	)
	containers := "  containers:\n    - name: main\n      image: baton-test/debian\n"
	hostile := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": hostilePipeline(machine, containers, nil, attempts, nil)})
	createProject(t, e, "hostile", hostile, nil)
	checkRefused(t, e, run(t, e, "hostile", "main"), attempts, false)
}

// TestJobUsersShareTheToolboxStores checks that jobs run as job users
// can still use the toolbox: checkout, the cache, artifacts and
// sem-context, across jobs that run as different users.
func TestJobUsersShareTheToolboxStores(t *testing.T) {
	probe.Require(t, probe.Root)
	t.Parallel()
	bin := testenv.BatonBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	_, e := startBatonUp(t, bin, data)
	repo := testenv.NewRepo(t, map[string]string{"hello.txt": "hello\n", ".semaphore/semaphore.yml": `version: v1.0
name: Toolbox
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Store
    task:
      jobs:
        - name: Store
          commands:
            - checkout
            - cat hello.txt
            - git status --short
            - mkdir -p deps && echo deps-v1 > deps/version
            - cache store deps-v1 deps
            - echo made > made.txt && artifact push workflow made.txt
            - sem-context put greeting=hello
  - name: Use
    task:
      jobs:
        - name: Use
          parallelism: 2
          commands:
            - checkout
            - 'echo "user: $(id -un)"'
            - cache restore deps-v1
            - 'echo "restored: $(cat deps/version)"'
            - artifact pull workflow made.txt && cat made.txt
            - 'echo "context: $(sem-context get greeting)"'
`})
	createProject(t, e, "tools", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "tools", "main"), 120*time.Second)
	users := map[string]bool{}
	for name, j := range wf.Jobs() {
		log := e.Log(j.ID)
		if j.Result != ci.ResultPassed {
			t.Fatalf("job %s = %s/%s:\n%s", name, j.Result, j.Reason, log)
		}
		if strings.HasPrefix(name, "Use/") {
			for _, want := range []string{"restored: deps-v1", "made\n", "context: hello"} {
				if !strings.Contains(log, want) {
					t.Errorf("job %s: no %q in the log:\n%s", name, want, log)
				}
			}
			if i := strings.Index(log, "\nuser: "); i >= 0 {
				users[strings.Fields(log[i+7:])[0]] = true
			}
		}
	}
	if users["root"] || len(users) == 0 {
		t.Errorf("jobs ran as %v", users)
	}
}
