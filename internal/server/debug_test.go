package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/cli"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testenv/probe"
	"github.com/creack/pty"
)

// Debug sessions end to end: the real OpenSSH client, through `baton
// ssh-proxy` and the server, to the SSH server of a real agent.

const sleepPipeline = `version: v1.0
name: Debug
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Hold
    task:
      secrets:
        - name: creds
      env_vars:
        - name: FROM_YAML
          value: yaml-value
      jobs:
        - name: Sleep
          commands:
            - checkout
            - export STEP_VAR=exported-by-a-command
            - echo started
            - sleep 600
`

// debugEnv is a server, a shell agent, a project with a secret and a
// running job, and users with keys.
type debugEnv struct {
	e     *testenv.Env
	baton string // the baton binary (ssh's ProxyCommand)
	dir   string
	job   string // a running job
	// via is the server users connect through (default e).
	via *testenv.Env
}

// sshUser is a user of the server with an API token and an SSH key pair.
type sshUser struct {
	login, token, key string // key is the private key file
}

func newDebugEnv(t *testing.T, pipeline string) *debugEnv {
	t.Helper()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	return setUpDebugEnv(t, e, pipeline)
}

// setUpDebugEnv creates the project on e, whose agents run its jobs.
func setUpDebugEnv(t *testing.T, e *testenv.Env, pipeline string) *debugEnv {
	t.Helper()
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": pipeline, "hello.txt": "hello\n"})
	createProject(t, e, "app", repo, nil)
	e.Do("POST", "/api/v1/projects/app/secrets", map[string]any{
		"name":     "creds",
		"env_vars": []map[string]string{{"name": "API_KEY", "value": "s3cr3t-api-key-value"}},
		"files":    []map[string]string{{"path": ".creds/token", "content": base64.StdEncoding.EncodeToString([]byte("file-token-value"))}},
	}, nil, http.StatusCreated)
	d := &debugEnv{e: e, baton: testenv.BatonBinary(t), dir: t.TempDir()}
	return d
}

// runningJob runs the project's pipeline and waits until its first job
// prints "started".
func (d *debugEnv) runningJob(t *testing.T) string {
	t.Helper()
	wf := run(t, d.e, "app", "main")
	var id string
	d.e.Eventually(30*time.Second, func() bool {
		var w testenv.Workflow
		d.e.Do("GET", "/api/v1/workflows/"+wf, nil, &w)
		for _, j := range w.Jobs() {
			if j.State == ci.StateRunning && strings.Contains(d.e.Log(j.ID), "started") {
				id = j.ID
				return true
			}
		}
		return false
	}, "a running job")
	return id
}

// user makes a user with a role in app ("" for none), an API token, and,
// if register, an SSH key registered with the server.
func (d *debugEnv) user(t *testing.T, login, role string, register bool) *sshUser {
	t.Helper()
	u := &sshUser{login: login, key: filepath.Join(d.dir, login+"_key")}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", login+"@test", "-f", u.key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	db := d.e.Server.Store
	err := db.Tx(t.Context(), func(tx *store.Tx) error {
		cu := &ci.User{ID: ids.New(), Login: login}
		if err := tx.CreateUser(cu, ""); err != nil {
			return err
		}
		tok, hash := auth.NewToken("bat_")
		if err := tx.CreateToken(&store.Token{UserID: cu.ID, Name: "test", Hash: hash, Kind: store.TokenAPI}); err != nil {
			return err
		}
		u.token = tok
		if role == "" {
			return nil
		}
		p, err := tx.GetProject("app")
		if err != nil {
			return err
		}
		return tx.SetMember(&store.Member{ProjectID: p.ID, UserID: cu.ID, Role: role})
	})
	if err != nil {
		t.Fatal(err)
	}
	if register {
		d.addKey(t, u, u.key+".pub", http.StatusCreated)
	}
	return u
}

func (d *debugEnv) addKey(t *testing.T, u *sshUser, pubFile string, want int) {
	t.Helper()
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	d.e.DoAs(u.token, "POST", "/api/v1/keys", map[string]string{"public_key": string(pub)}, nil, want)
}

// ssh runs the OpenSSH client into a job as u (with key, default u's)
// and returns its output and exit code.
func (d *debugEnv) ssh(t *testing.T, u *sshUser, key, job string, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := d.sshCmd(t, u, key, job, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ssh: %v", err)
	}
	return out.String(), code
}

func (d *debugEnv) sshCmd(t *testing.T, u *sshUser, key, job string, args ...string) *exec.Cmd {
	t.Helper()
	if key == "" {
		key = u.key
	}
	var info struct {
		Host    string `json:"host"`
		HostKey string `json:"host_key"`
	}
	via := d.e
	if d.via != nil {
		via = d.via
	}
	via.Do("GET", "/api/v1/jobs/"+job+"/ssh", nil, &info)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(info.Host+" "+info.HostKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	full := append([]string{
		"-F", "/dev/null",
		"-o", "ProxyCommand=" + d.baton + " ssh-proxy --server " + via.URL + " " + job,
		"-o", "UserKnownHostsFile=" + kh, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
		"-i", key, "-o", "IdentitiesOnly=yes",
	}, args...)
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "baton@") }) {
		full = append(full, "baton@"+info.Host)
	}
	cmd := exec.Command("/usr/bin/ssh", full...)
	cmd.Env = append(os.Environ(), "HOME="+home, "BATON_TOKEN="+u.token)
	cmd.WaitDelay = 5 * time.Second // the ProxyCommand may hold ssh's stderr a little longer
	return cmd
}

func TestAttachShellExecutor(t *testing.T) {
	t.Parallel()
	d := newDebugEnv(t, sleepPipeline)
	job := d.runningJob(t)
	dev := d.user(t, "dev", "write", true)

	// The job's environment as it is now: system and YAML variables,
	// secrets (env and files), what its commands exported, the checkout
	// in the working directory.
	out, code := d.ssh(t, dev, "", job, "", "baton@job-"+job,
		`echo "id=$SEMAPHORE_JOB_ID yaml=$FROM_YAML key=$API_KEY step=$STEP_VAR"; cat ~/.creds/token; echo; pwd; cat hello.txt`)
	want := fmt.Sprintf("id=%s yaml=yaml-value key=s3cr3t-api-key-value step=exported-by-a-command\nfile-token-value\n", job)
	if code != 0 || !strings.HasPrefix(out, want) || !strings.Contains(out, "/"+"app-") && !strings.Contains(out, "hello\n") {
		t.Errorf("ssh = %d, output:\n%s\nwant it to start with:\n%s", code, out, want)
	}
	if !strings.HasSuffix(out, "hello\n") {
		t.Errorf("the shell did not start in the checkout (the job's working directory):\n%s", out)
	}

	// Exit statuses propagate.
	if out, code := d.ssh(t, dev, "", job, "", "baton@job-"+job, "exit 7"); code != 7 {
		t.Errorf("ssh 'exit 7' = %d, want 7 (%s)", code, out)
	}
	// A shell without a command reads its standard input.
	if out, code := d.ssh(t, dev, "", job, "echo from-stdin $SEMAPHORE_JOB_NAME\nexit 3\n"); code != 3 || !strings.Contains(out, "from-stdin Sleep") {
		t.Errorf("ssh with a shell on stdin = %d, %q", code, out)
	}

	// Refused: a reader, a non-member, a writer without a key, the wrong
	// key; nobody may register someone else's key.
	reader := d.user(t, "reader", "read", true)
	outsider := d.user(t, "outsider", "", true)
	keyless := d.user(t, "keyless", "write", false)
	for _, tc := range []struct {
		name string
		u    *sshUser
		key  string
	}{
		{"reader", reader, ""},
		{"non-member", outsider, ""},
		{"no key", keyless, ""},
		{"wrong key", dev, reader.key},
	} {
		out, code := d.ssh(t, tc.u, tc.key, job, "", "baton@job-"+job, "echo let-in")
		if code != 255 || strings.Contains(out, "let-in") {
			t.Errorf("%s: ssh = %d, %q; want 255 (refused)", tc.name, code, out)
		}
	}
	d.addKey(t, keyless, dev.key+".pub", http.StatusConflict)

	// Sessions are recorded and audited.
	var sessions []store.DebugSession
	d.e.Do("GET", "/api/v1/jobs/"+job+"/sessions", nil, &sessions)
	opened := 0
	for _, s := range sessions {
		if s.Login == "dev" && s.Kind == "attach" && s.State == store.SessionClosed && !s.OpenedAt.IsZero() {
			opened++
		}
	}
	// Three sessions, and the one the agent refused (the wrong key): the
	// server splices bytes, only the agent knows the keys.
	if opened != 4 || len(sessions) != 4 {
		t.Errorf("sessions = %+v; want 4 closed attach sessions of dev", sessions)
	}
	var events []map[string]any
	d.e.Do("GET", "/api/v1/audit", nil, &events)
	n := 0
	for _, ev := range events {
		if ev["action"] == "debug_session" && ev["actor"] == "dev" && ev["target"] == job {
			n++
		}
	}
	if n != 4 {
		t.Errorf("audit has %d debug_session events of dev on %s, want 4: %v", n, job, events)
	}
}

func TestAttachThroughCLIWithTerminalResize(t *testing.T) {
	t.Parallel()
	d := newDebugEnv(t, sleepPipeline)
	job := d.runningJob(t)
	dev := d.user(t, "dev", "write", true)

	// `baton attach JOB COMMAND`, through the CLI.
	var out, errb bytes.Buffer
	env := map[string]string{"BATON_SERVER": d.e.URL, "BATON_TOKEN": dev.token, "BATON_EXECUTABLE": d.baton, "HOME": t.TempDir()}
	code := cli.Main(t.Context(), []string{"baton", "attach", "-i", dev.key, job, "echo via-cli $SEMAPHORE_JOB_ID; exit 4"},
		&cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }, Dir: t.TempDir()})
	if code != 4 || out.String() != "via-cli "+job+"\n" {
		t.Errorf("baton attach = %d, %q (stderr %q); want 4, via-cli %s", code, out.String(), errb.String(), job)
	}

	// An interactive terminal, resized.
	cmd := d.sshCmd(t, dev, "", job, "-tt")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 90})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitScreen := func(s string) {
		t.Helper()
		probe.Eventually(t, 20*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if got := screen.String(); !strings.Contains(got, s) {
				return fmt.Errorf("the terminal never showed %q:\n%s", s, got)
			}
			return nil
		})
	}
	io.WriteString(tty, "echo size=$(stty size)=$TERM\n")
	waitScreen("size=30 90=")
	if err := pty.Setsize(tty, &pty.Winsize{Rows: 50, Cols: 132}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		io.WriteString(tty, "echo size=$(stty size).\n")
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		ok := strings.Contains(screen.String(), "size=50 132.")
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the remote terminal was not resized:\n%s", screen.String())
		}
	}
	io.WriteString(tty, "exit 5\n")
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Errorf("interactive ssh ended with %v, want exit status 5", err)
	}
}

const failPipeline = `version: v1.0
name: Failing
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Test
    task:
      secrets:
        - name: creds
      prologue:
        commands:
          - checkout
      jobs:
        - name: Unit
          commands:
            - echo running the tests
            - "false"
      epilogue:
        always:
          commands:
            - echo cleaning up
`

func TestDebugJob(t *testing.T) {
	t.Parallel()
	d := newDebugEnv(t, failPipeline)
	dev := d.user(t, "dev", "write", true)
	wf := d.e.WaitWorkflow(run(t, d.e, "app", "main"), 30*time.Second)
	if wf.Result != ci.ResultFailed {
		t.Fatalf("workflow = %s, want failed", wf.Result)
	}
	orig := wf.Jobs()["Test/Unit"]

	// baton debug: a shell in a new job like the failed one, whose
	// commands are in ~/commands.sh; exiting ends the debug job.
	var out, errb bytes.Buffer
	env := map[string]string{"BATON_SERVER": d.e.URL, "BATON_TOKEN": dev.token, "BATON_EXECUTABLE": d.baton, "HOME": t.TempDir()}
	stdin := "cat ~/commands.sh; echo type=$SEMAPHORE_JOB_TYPE key=$API_KEY; cat hello.txt || ls\nexit\n"
	code := cli.Main(t.Context(), []string{"baton", "debug", "-i", dev.key, "--duration", "10m", orig.ID},
		&cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }, Dir: t.TempDir()})
	got := out.String()
	for _, want := range []string{"checkout\necho running the tests\nfalse\n# epilogue (always):\necho cleaning up\n", "type=debug_job key=s3cr3t-api-key-value\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("baton debug output lacks %q:\n%s\nstderr: %s", want, got, errb.String())
		}
	}
	if code != 0 {
		t.Errorf("baton debug = %d, want 0 (stderr %s)", code, errb.String())
	}
	// The debug job is done; the original pipeline's result is unchanged.
	var w testenv.Workflow
	d.e.Eventually(20*time.Second, func() bool {
		d.e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, &w)
		if len(w.Pipelines) != 2 {
			return false
		}
		for _, j := range w.Jobs() {
			if j.State != ci.StateDone {
				return false
			}
		}
		return true
	}, "the debug job to end")
	if w.Pipelines[0].Result != ci.ResultFailed {
		t.Errorf("the original pipeline is now %s", w.Pipelines[0].Result)
	}
	for name, j := range w.Jobs() {
		if strings.HasPrefix(name, "Debug") && j.Result == ci.ResultFailed {
			t.Errorf("debug job %s failed", name)
		}
	}
}

func TestDebugJobTimeLimit(t *testing.T) {
	t.Parallel()
	// Debugging a job that passed leaves its workflow passed.
	d := newDebugEnv(t, strings.Replace(failPipeline, `            - "false"`+"\n", "", 1))
	wf := d.e.WaitWorkflow(run(t, d.e, "app", "main"), 30*time.Second)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow = %s, want passed", wf.Result)
	}
	orig := wf.Jobs()["Test/Unit"]
	var dj struct {
		JobID string `json:"job_id"`
	}
	d.e.Do("POST", "/api/v1/jobs/"+orig.ID+"/debug", map[string]string{"duration": "2s"}, &dj, http.StatusCreated)
	d.e.Do("POST", "/api/v1/jobs/"+orig.ID+"/debug", map[string]string{"duration": "100h"}, nil, http.StatusBadRequest)
	var j ci.Job
	d.e.Eventually(30*time.Second, func() bool {
		d.e.Do("GET", "/api/v1/jobs/"+dj.JobID, nil, &j)
		return j.State == ci.StateDone
	}, "the debug job to reach its time limit")
	if j.Result != ci.ResultStopped || j.Reason != ci.ReasonTimeout {
		t.Errorf("debug job = %s/%s, want stopped/timeout", j.Result, j.Reason)
	}
	if log := d.e.Log(dj.JobID); !strings.Contains(log, "commands.sh") {
		t.Errorf("the debug job's log does not say where the commands are:\n%s", log)
	}
	var after testenv.Workflow
	d.e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, &after)
	if after.State != ci.StateDone || after.Result != ci.ResultPassed {
		t.Errorf("after a debug job stopped at its limit the workflow is %s/%s, want done/passed", after.State, after.Result)
	}
}

// freePort returns a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// forwardAndGet forwards a local port through ssh -L and GETs url's path
// through it.
func (d *debugEnv) forwardAndGet(t *testing.T, u *sshUser, job, target, path string) string {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := d.sshCmd(t, u, "", job, "-N", "-L", fmt.Sprintf("127.0.0.1:%d:%s", port, target))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var body string
	probe.Eventually(t, 20*time.Second, func() error {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				body = string(b)
				return nil
			}
		}
		return withSSHStderr{fmt.Errorf("GET through the forwarded port: %v", err), &errb}
	})
	return body
}

const dockerDebugPipeline = `version: v1.0
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
  - name: Hold
    task:
      secrets:
        - name: creds
      jobs:
        - name: Sleep
          commands:
            - checkout
            - echo started
            - sleep 600
`

// forwardAndRead forwards a local port through ssh -L to target and
// reads what a connection to it gets.
func (d *debugEnv) forwardAndRead(t *testing.T, u *sshUser, job, target string) string {
	t.Helper()
	port := freePort(t)
	cmd := d.sshCmd(t, u, "", job, "-N", "-L", fmt.Sprintf("127.0.0.1:%d:%s", port, target))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var got string
	probe.Eventually(t, 20*time.Second, func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			b, _ := io.ReadAll(c)
			c.Close()
			if len(b) > 0 {
				got = string(b)
				return nil
			}
		}
		return withSSHStderr{fmt.Errorf("nothing came through the forwarded port: %v", err), &errb}
	})
	return got
}

func TestAttachDockerWithPortForward(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	d := newDebugEnv(t, dockerDebugPipeline)
	dockerAgent(t, d.e, "docker-1", fmt.Sprintf("debug-test-%d", time.Now().UnixNano()))
	job := d.runningJob(t)
	dev := d.user(t, "dev", "write", true)

	// A shell in the main container, in the job's environment.
	out, code := d.ssh(t, dev, "", job, "", "baton@job-"+job,
		`echo "id=$SEMAPHORE_JOB_ID key=$API_KEY host=$(hostname)"; cat ~/.creds/token; echo; test -f /etc/debian_version && echo debian; exit 9`)
	want := fmt.Sprintf("id=%s key=s3cr3t-api-key-value host=main\nfile-token-value\ndebian\n", job)
	if code != 9 || out != want {
		t.Errorf("ssh into the container = %d, %q; want 9, %q", code, out, want)
	}
	// A local port forwarded to the service container, by its name.
	if got := d.forwardAndRead(t, dev, job, "svc:1234"); got != "hello from the service" {
		t.Errorf("through the forwarded port: %q", got)
	}
	// By port alone (baton debug --port 1234): the service that listens
	// on it, as nothing does in the main container.
	if got := d.forwardAndRead(t, dev, job, "localhost:1234"); got != "hello from the service" {
		t.Errorf("through the port forwarded to localhost: %q", got)
	}
}

func TestKeepOnFailureAttach(t *testing.T) {
	t.Parallel()
	d := newDebugEnv(t, failPipeline)
	dev := d.user(t, "dev", "write", true)
	d.e.DoAs(dev.token, "POST", "/api/v1/projects/app/workflows", map[string]any{"keep_on_failure": "100h"}, nil, http.StatusBadRequest)
	var wf ci.Workflow
	d.e.DoAs(dev.token, "POST", "/api/v1/projects/app/workflows", map[string]any{"keep_on_failure": "10m"}, &wf, http.StatusCreated)
	var job *ci.Job
	d.e.Eventually(30*time.Second, func() bool {
		var w testenv.Workflow
		d.e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, &w)
		job = w.Jobs()["Test/Unit"]
		return job != nil && strings.Contains(d.e.Log(job.ID), "kept for debugging")
	}, "the failed job to be kept")
	if log := d.e.Log(job.ID); !strings.Contains(log, "baton attach "+job.ID) || !strings.Contains(log, "cleaning up") {
		t.Errorf("the kept job's log does not say how to attach (after the epilogue):\n%s", log)
	}
	var j ci.Job
	d.e.Do("GET", "/api/v1/jobs/"+job.ID, nil, &j)
	if j.State != ci.StateRunning {
		t.Fatalf("kept job is %s, want running", j.State)
	}
	out, code := d.ssh(t, dev, "", job.ID, "", "baton@job-"+job.ID, `echo "kept $SEMAPHORE_JOB_ID $API_KEY"; cat hello.txt`)
	if want := "kept " + job.ID + " s3cr3t-api-key-value\nhello\n"; code != 0 || out != want {
		t.Errorf("ssh into the kept job = %d, %q; want 0, %q", code, out, want)
	}
	// Stopping it ends the hold; the job's result is its own: failed.
	d.e.Do("POST", "/api/v1/jobs/"+job.ID+"/stop", nil, nil)
	d.e.Eventually(30*time.Second, func() bool {
		d.e.Do("GET", "/api/v1/jobs/"+job.ID, nil, &j)
		return j.State == ci.StateDone
	}, "the kept job to end")
	if j.Result != ci.ResultFailed {
		t.Errorf("kept job ended %s/%s, want failed", j.Result, j.Reason)
	}
}

// TestAttachThroughAnotherServer: with two servers sharing PostgreSQL, a
// user connected to one reaches a job whose agent polls the other: the
// stream request names the user's server, and the agent dials it there.
func TestAttachThroughAnotherServer(t *testing.T) {
	t.Parallel()
	dsn := postgresDSN(t)
	shared := t.TempDir()
	e1 := testenv.Start(t, testenv.Options{DB: dsn, DataDir: shared})
	e2 := testenv.Start(t, testenv.Options{DB: dsn, DataDir: shared})
	e1.StartAgent(t, "a1", "e1-standard-2", 1)
	d := setUpDebugEnv(t, e1, sleepPipeline)
	d.via = e2
	job := d.runningJob(t)
	dev := d.user(t, "dev", "write", true)
	out, code := d.ssh(t, dev, "", job, "", "baton@job-"+job, `echo "id=$SEMAPHORE_JOB_ID"`)
	if code != 0 || !strings.Contains(out, "id="+job) {
		t.Fatalf("ssh through the other server = %d, output:\n%s", code, out)
	}
}

// withSSHStderr is a failure that, when printed, adds what ssh has written
// so far (read only then: ssh is still writing).
type withSSHStderr struct {
	err    error
	stderr *bytes.Buffer
}

func (e withSSHStderr) Error() string { return fmt.Sprintf("%v (ssh: %s)", e.err, e.stderr.String()) }
