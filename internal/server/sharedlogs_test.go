package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// followEvents follows a job's log through e as Server-Sent Events and
// returns, once the stream ends, the output it carried; it fails the test
// if the stream has not ended within timeout.
func followEvents(t *testing.T, e *testenv.Env, jobID string, timeout time.Duration) <-chan string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/api/v1/jobs/"+jobID+"/log?follow=1", nil)
	req.Header.Set("Authorization", "Token "+e.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	out := make(chan string, 1)
	go func() {
		defer cancel()
		defer resp.Body.Close()
		var b strings.Builder
		ended := false
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if line == "event: end" {
				ended = true
			}
			if strings.HasPrefix(line, "data: ") {
				b.WriteString(line + "\n")
			}
		}
		if !ended {
			b.WriteString("FOLLOW DID NOT END: " + fmt.Sprint(sc.Err()))
		}
		out <- b.String()
	}()
	return out
}

// TestTwoServersShareLogsThroughObjectStorage: two servers with their own
// data directories share one PostgreSQL database and one S3 bucket. A log
// written through one is served, live and finished, through the other; an
// agent killed mid-job is declared lost once, by one server, whose line
// ends the log that a follower on the other server sees end.
func TestTwoServersShareLogsThroughObjectStorage(t *testing.T) {
	t.Parallel()
	dsn := postgresDSN(t)
	s3 := testenv.StartS3(t)
	storage := blob.Config{URL: s3.URL("baton"), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}
	e1 := testenv.Start(t, testenv.Options{DB: dsn, Storage: storage, LostAfter: 2 * time.Second})
	// The second server has its own data directory; only the admin's API
	// token is copied over, for the test's API calls.
	dir2 := t.TempDir()
	tok, err := os.ReadFile(filepath.Join(e1.DataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, "admin-token"), tok, 0o600); err != nil {
		t.Fatal(err)
	}
	e2 := testenv.Start(t, testenv.Options{DB: dsn, Storage: storage, LostAfter: 2 * time.Second, DataDir: dir2})

	// A live log written through e1, followed and read through e2.
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": fmt.Sprintf(slowPipeline, "for i in $(seq 1 30); do echo tick $i; sleep 0.05; done")})
	createProject(t, e1, "app", repo, nil)
	agent := e1.StartAgent(t, "steady", "e1-standard-2", 1)
	id := run(t, e1, "app", "main")
	j := waitJobState(t, e2, id, "Slow/Work", ci.StateRunning)
	followed := followEvents(t, e2, j.ID, 60*time.Second)
	wf := e2.WaitWorkflow(id, 60*time.Second)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow = %s", wf.Result)
	}
	got := <-followed
	if strings.Contains(got, "FOLLOW DID NOT END") || !strings.Contains(got, "job_finished") {
		t.Fatalf("the follower on the other server did not see the end:\n%s", got)
	}
	for _, e := range []*testenv.Env{e1, e2} {
		log := e.Log(j.ID)
		last := -1
		for i := 1; i <= 30; i++ {
			at := strings.Index(log, fmt.Sprintf("tick %d\n", i))
			if at < 0 || strings.Count(log, fmt.Sprintf("tick %d\n", i)) != 1 || at < last {
				t.Fatalf("log through %s: tick %d missing, repeated or out of order:\n%s", e.URL, i, log)
			}
			last = at
		}
	}
	agent.Stop()

	// An agent process on e2 is killed mid-job; both servers watch for
	// lost agents, one declares it.
	repo.Commit("hang", map[string]string{".semaphore/semaphore.yml": fmt.Sprintf(slowPipeline, "sleep 600")})
	doomed := startAgentProcess(t, e2, "doomed")
	id = run(t, e2, "app", "main")
	j = waitJobState(t, e1, id, "Slow/Work", ci.StateRunning)
	e1.Eventually(30*time.Second, func() bool { return strings.Contains(e1.Log(j.ID), "before\n") }, "the job's first output through e1")
	followed = followEvents(t, e1, j.ID, 60*time.Second)
	syscall.Kill(-doomed.Process.Pid, syscall.SIGKILL)
	wf = e1.WaitWorkflow(id, 60*time.Second)
	lostJob := wf.Jobs()["Slow/Work"]
	if lostJob.Result != ci.ResultFailed || lostJob.Reason != ci.ReasonAgentLost {
		t.Fatalf("job = %s/%s, want failed/agent_lost", lostJob.Result, lostJob.Reason)
	}
	got = <-followed
	if strings.Contains(got, "FOLLOW DID NOT END") {
		t.Fatalf("the follower never saw the lost job's log end:\n%s", got)
	}
	for _, e := range []*testenv.Env{e1, e2} {
		log := e.Log(j.ID)
		if n := strings.Count(log, "agent lost"); n != 1 {
			t.Errorf("log through %s has the agent-lost line %d times, want once:\n%s", e.URL, n, log)
		}
		if strings.Count(log, "\nbefore\n") != 1 {
			t.Errorf("log through %s repeats or lacks its first line:\n%s", e.URL, log)
		}
	}
	// Sealed logs are one object each; their chunks are gone.
	objects := map[string]int{}
	c := s3.Client(t)
	for o := range c.ListObjects(t.Context(), s3.Bucket, minioListAll("baton/logs/")) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		kind := "log"
		if strings.Contains(o.Key, "/chunks/") {
			kind = "chunk"
		}
		objects[kind]++
	}
	if objects["chunk"] != 0 || objects["log"] < 2 {
		t.Errorf("objects under logs/: %v; want one sealed object per job and no chunks", objects)
	}
}

func minioListAll(prefix string) minio.ListObjectsOptions {
	return minio.ListObjectsOptions{Prefix: prefix, Recursive: true}
}

// TestServerKilledMidLogOtherServerEndsIt: the server an agent streams a
// log to goes away mid-job; the other server declares the agent lost and
// ends the log (it never wrote it), a follower there sees the end, and
// when the first server comes back it serves the same log: every line
// once, in order, the agent-lost line last.
func TestServerKilledMidLogOtherServerEndsIt(t *testing.T) {
	t.Parallel()
	dsn := postgresDSN(t)
	s3 := testenv.StartS3(t)
	storage := blob.Config{URL: s3.URL("baton"), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}
	dir1 := t.TempDir()
	e1 := testenv.Start(t, testenv.Options{DB: dsn, Storage: storage, LostAfter: 2 * time.Second, DataDir: dir1})
	addr1 := strings.TrimPrefix(e1.URL, "http://")
	dir2 := t.TempDir()
	tok, err := os.ReadFile(filepath.Join(dir1, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, "admin-token"), tok, 0o600); err != nil {
		t.Fatal(err)
	}
	e2 := testenv.Start(t, testenv.Options{DB: dsn, Storage: storage, LostAfter: 2 * time.Second, DataDir: dir2})

	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": fmt.Sprintf(slowPipeline, "for i in $(seq 1 400); do echo tick $i; sleep 0.02; done; sleep 600")})
	createProject(t, e1, "app", repo, nil)
	startAgentProcess(t, e1, "streaming")
	id := run(t, e1, "app", "main")
	j := waitJobState(t, e2, id, "Slow/Work", ci.StateRunning)
	e2.Eventually(30*time.Second, func() bool { return strings.Contains(e2.Log(j.ID), "tick 20\n") }, "tick 20 through the other server")
	followed := followEvents(t, e2, j.ID, 60*time.Second)
	e1.Stop()

	wf := e2.WaitWorkflow(id, 60*time.Second)
	if got := wf.Jobs()["Slow/Work"]; got.Result != ci.ResultFailed || got.Reason != ci.ReasonAgentLost {
		t.Fatalf("job = %s/%s, want failed/agent_lost", got.Result, got.Reason)
	}
	if got := <-followed; strings.Contains(got, "FOLLOW DID NOT END") {
		t.Fatalf("the follower on the surviving server never saw the end:\n%s", got)
	}
	e1 = testenv.Start(t, testenv.Options{DB: dsn, Storage: storage, LostAfter: 2 * time.Second, DataDir: dir1, Addr: addr1})
	time.Sleep(time.Second) // the agent reconnects and may try to send more
	want := e2.Log(j.ID)
	checkTicks(t, want)
	if got := e1.Log(j.ID); got != want {
		t.Fatalf("the restarted server serves another log:\n%s\nwant:\n%s", got, want)
	}
}

// checkTicks checks a log of "tick N" lines: each once, in order, from 1
// on without holes, and the agent-lost line once, after them.
func checkTicks(t *testing.T, log string) {
	t.Helper()
	last, n := -1, 0
	for i := 1; ; i++ {
		line := fmt.Sprintf("\ntick %d\n", i)
		at := strings.Index(log, line)
		if at < 0 {
			break
		}
		if strings.Count(log, line) != 1 || at < last {
			t.Fatalf("tick %d repeated or out of order:\n%s", i, log)
		}
		last, n = at, i
	}
	if n < 20 || strings.Contains(log, fmt.Sprintf("\ntick %d\n", n+2)) {
		t.Fatalf("ticks stop at %d or have a hole:\n%s", n, log)
	}
	lost := strings.Index(log, "agent lost")
	if strings.Count(log, "agent lost") != 1 || lost < last {
		t.Fatalf("the agent-lost line is missing, repeated or not last:\n%s", log)
	}
}

// TestBatonServerProcessKilledMidLog is TestServerKilledMidLogOtherServerEndsIt
// with two real `baton server` processes: the one the agent streams a log
// to is killed with SIGKILL, and the other declares the agent lost and
// ends the log with every line once, in order.
func TestBatonServerProcessKilledMidLog(t *testing.T) {
	t.Parallel()
	dsn := postgresDSN(t)
	s3 := testenv.StartS3(t)
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+s3.AccessKey+"\naws_secret_access_key = "+s3.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := testenv.BatonBinary(t)
	server := func(data, ready string) (*exec.Cmd, string) {
		return startBaton(t, bin, ready, "server", "--db", dsn, "--data", data, "--addr", "127.0.0.1:0", "--storage", s3.URL("baton"), "--storage-credentials", creds)
	}
	dir1, dir2 := t.TempDir(), t.TempDir()
	srv1, line := server(dir1, "Agents connect with: baton agent --server ")
	url1, agentToken, ok := strings.Cut(line, " --token ")
	if !ok {
		t.Fatalf("no agent token in %q", line)
	}
	tok, err := os.ReadFile(filepath.Join(dir1, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	_, url2 := server(dir2, "Baton server listening at ")
	e1 := testenv.Attach(t, url1, strings.TrimSpace(string(tok)), dir1)
	e1.AgentToken = agentToken
	e2 := testenv.Attach(t, url2, strings.TrimSpace(string(tok)), dir2)

	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": fmt.Sprintf(slowPipeline, "for i in $(seq 1 400); do echo tick $i; sleep 0.02; done; sleep 600")})
	createProject(t, e1, "app", repo, nil)
	startAgentProcess(t, e1, "streaming")
	id := run(t, e1, "app", "main")
	j := waitJobState(t, e2, id, "Slow/Work", ci.StateRunning)
	e2.Eventually(30*time.Second, func() bool { return strings.Contains(e2.Log(j.ID), "tick 20\n") }, "tick 20 through the other server")
	followed := followEvents(t, e2, j.ID, 90*time.Second)
	if err := srv1.Process.Kill(); err != nil {
		t.Fatal(err)
	}

	wf := e2.WaitWorkflow(id, 90*time.Second)
	if got := wf.Jobs()["Slow/Work"]; got.Result != ci.ResultFailed || got.Reason != ci.ReasonAgentLost {
		t.Fatalf("job = %s/%s, want failed/agent_lost", got.Result, got.Reason)
	}
	if got := <-followed; strings.Contains(got, "FOLLOW DID NOT END") {
		t.Fatalf("the follower on the surviving server never saw the end:\n%s", got)
	}
	checkTicks(t, e2.Log(j.ID))
}
