package server_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/gitssh/gitsshtest"
	"github.com/batonci/baton/internal/testenv"
)

// TestLibraryOverSSH: a library whose repository the real OpenSSH server
// serves, read with the library's own private key: a wrong key is
// refused when the library is added, saying so; readers and writers may
// not add or change one; the workflow's pin and lib checkout fetch with
// the key; the key is never in an API answer, the audit log, the
// server's logs, a job's log, nor in the command line or environment of
// any process while git and ssh run.
func TestLibraryOverSSH(t *testing.T) {
	t.Parallel()
	srv := gitsshtest.Start(t)
	var logs lockedBuffer
	e := testenv.Start(t, testenv.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	lib := testenv.NewRepo(t, map[string]string{
		"ci/build":  "echo one\nsleep 0.4\necho \"flavour $FLAVOUR\"\n",
		"bin/greet": "#!/bin/sh\necho hello from the library\n",
	})
	libURL := srv.URL(lib.Dir)
	// A line of the key's body: what must never be seen.
	keyLine := strings.Split(srv.ClientKey, "\n")[2]

	code, refusal := rawCall(t, e, e.Token, "POST", "/api/v1/libraries", jsonBody(t, map[string]any{"name": "ops", "repo_url": libURL, "ssh_key": srv.OtherKey}))
	if code != http.StatusBadRequest || !strings.Contains(refusal, "Permission denied (publickey)") {
		t.Errorf("a wrong key: %d %s, want 400 saying the key was refused", code, refusal)
	}
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": libraryPipeline})
	createProject(t, e, "app", repo, nil)
	for _, role := range []string{"read", "write"} {
		tok := addUser(t, e, "app", role+"er", role)
		if code, body := rawCall(t, e, tok, "POST", "/api/v1/libraries", jsonBody(t, map[string]any{"name": "mine", "repo_url": libURL, "ssh_key": srv.ClientKey})); code != http.StatusForbidden {
			t.Errorf("a %s member adding a library with a key: %d %s, want 403", role, code, body)
		}
	}

	var added apiv1.Library
	e.Do("POST", "/api/v1/libraries", map[string]any{"name": "ops", "repo_url": libURL, "ssh_key": srv.ClientKey}, &added, http.StatusCreated)
	if added.Token || !strings.HasPrefix(added.SSHKey, "ssh-ed25519 ") || !strings.HasPrefix(added.SSHFingerprint, "SHA256:") ||
		len(added.KnownHosts) == 0 || !strings.Contains(added.KnownHosts[0], "[127.0.0.1]:"+srv.Port) {
		t.Errorf("added = %+v, want its public key and the server's host keys", added)
	}
	for _, role := range []string{"read", "write"} {
		tok := addUser(t, e, "app", role+"er2", role)
		if code, body := rawCall(t, e, tok, "PATCH", "/api/v1/libraries/ops", jsonBody(t, map[string]any{"ssh_key": srv.OtherKey})); code != http.StatusForbidden {
			t.Errorf("a %s member changing the key: %d %s, want 403", role, code, body)
		}
	}

	// Watch every process while the workflow fetches: git and ssh must
	// hold the key in a file, never in their arguments or environment.
	srv.SetDelay(t, time.Second)
	stop := watchProcesses(t, keyLine)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 2*time.Minute)
	sshSeen, leaks := stop()
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow = %s: %s", wf.Result, wf.Pipelines[0].Diagnostics)
	}
	if sshSeen == 0 {
		t.Error("no ssh process with the library's key file was seen while the workflow fetched: the process check saw nothing")
	}
	for _, l := range leaks {
		t.Errorf("a process shows the key: %s", l)
	}
	srv.SetDelay(t, 0)
	for _, j := range wf.Pipelines[0].Blocks[0].Jobs {
		log := e.Log(j.ID)
		if strings.Contains(log, keyLine) {
			t.Errorf("job %s's log shows the key", j.Name)
		}
		if j.Name == "Checkout" && !strings.Contains(log, "hello from the library") {
			t.Errorf("lib checkout's log lacks the library's file:\n%s", log)
		}
	}

	// A new commit is fetched with the key for the next workflow.
	moved := lib.Commit("build differently", map[string]string{"ci/build": "echo moved\n"})
	next := e.WaitWorkflow(run(t, e, "app", "main"), 2*time.Minute)
	var wv apiv1.WorkflowView
	e.Do("GET", "/api/v1/workflows/"+next.ID, nil, &wv, http.StatusOK)
	if len(wv.Libraries) != 1 || wv.Libraries[0].SHA != moved {
		t.Errorf("the next workflow's libraries = %+v, want ops at %s", wv.Libraries, moved)
	}

	// A wrong key does not replace the stored one.
	code, refusal = rawCall(t, e, e.Token, "PATCH", "/api/v1/libraries/ops", jsonBody(t, map[string]any{"ssh_key": srv.OtherKey}))
	if code != http.StatusBadRequest || !strings.Contains(refusal, "Permission denied (publickey)") || strings.Contains(refusal, strings.Split(srv.OtherKey, "\n")[2]) {
		t.Errorf("updating to a wrong key: %d %s", code, refusal)
	}
	var detail apiv1.LibraryDetail
	e.Do("GET", "/api/v1/libraries/ops", nil, &detail, http.StatusOK)
	if detail.Head != moved || detail.SSHKey != added.SSHKey {
		t.Errorf("after a refused update: head %s, key %q; want %s and the first key", detail.Head, detail.SSHKey, moved)
	}

	for _, path := range []string{"/api/v1/libraries", "/api/v1/libraries/ops", "/api/v1/audit"} {
		if _, body := rawCall(t, e, e.Token, "GET", path, ""); strings.Contains(body, keyLine) || strings.Contains(body, "PRIVATE KEY") || !strings.Contains(body, "ops") {
			t.Errorf("%s shows the key: %s", path, body)
		}
	}
	if _, body := rawCall(t, e, e.Token, "GET", "/api/v1/audit", ""); !strings.Contains(body, "ssh_key=SHA256:") {
		t.Errorf("the audit log does not name the key's fingerprint: %s", body)
	}
	if strings.Contains(logs.String(), keyLine) || strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Errorf("the server's logs show the key:\n%s", logs.String())
	}
}

// watchProcesses reads every process's command line and environment
// until stop is called, and reports how many ssh processes with a key
// file it saw and every process that showed needle.
func watchProcesses(t *testing.T, needle string) (stop func() (sshSeen int, leaks []string)) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	var ssh int
	var leaks []string
	seen := map[string]bool{}
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			pids, _ := filepath.Glob("/proc/[0-9]*")
			for _, p := range pids {
				cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
				environ, _ := os.ReadFile(filepath.Join(p, "environ"))
				args := strings.ReplaceAll(string(cmdline), "\x00", " ")
				if strings.HasPrefix(args, "ssh ") && strings.Contains(args, "baton-ssh-") {
					if !seen[p] {
						seen[p] = true
						ssh++
					}
				}
				if strings.Contains(string(cmdline), needle) || strings.Contains(string(environ), needle) {
					leaks = append(leaks, args)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	return func() (int, []string) {
		close(done)
		wg.Wait()
		return ssh, leaks
	}
}

// jsonBody is v as JSON, for rawCall.
func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
