package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/server"
	"github.com/batonci/baton/internal/testenv"
)

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// The secret's name is distinctive, so that a test can look for it.
const secretName = "deploy-creds-7f3a"

// secretPipeline checks the job saw the secret's values without naming
// them (it compares hashes), then prints them, which the agent masks.
func secretPipeline(keySHA, fileSHA string) string {
	return `version: v1.0
name: Secrets
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Deploy
    task:
      secrets:
        - name: ` + secretName + `
      jobs:
        - name: Use it
          commands:
            - test "$(printf %s "$AWS_KEY" | sha256sum | cut -d' ' -f1)" = ` + keySHA + `
            - test "$(cat ~/.deploy/token | sha256sum | cut -d' ' -f1)" = ` + fileSHA + `
            - echo "the key is $AWS_KEY"
            - cat ~/.deploy/token
`
}

func TestSecretsEndToEnd(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	e := testenv.Start(t, testenv.Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	e.StartAgent(t, "a1", "e1-standard-2", 1)
	const (
		orgValue     = "org-value-that-a-project-overrides"
		projectValue = "project-aws-key-Zq81xW"
		fileValue    = "file-token-Pp0c44Rm"
	)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": secretPipeline(sha(projectValue), sha(fileValue))})
	createProject(t, e, "app", repo, map[string]any{"public": true})

	var created map[string]any
	e.Do("POST", "/api/v1/secrets", map[string]any{
		"name":     secretName,
		"env_vars": []map[string]string{{"name": "AWS_KEY", "value": orgValue}},
	}, &created, http.StatusCreated)
	e.Do("POST", "/api/v1/projects/app/secrets", map[string]any{
		"name":        secretName,
		"description": "deploys the app",
		"env_vars":    []map[string]string{{"name": "AWS_KEY", "value": projectValue}, {"name": "TINY", "value": "abc"}},
		"files":       []map[string]string{{"path": ".deploy/token", "content": base64.StdEncoding.EncodeToString([]byte(fileValue))}},
	}, &created, http.StatusCreated)
	if w, _ := created["warnings"].([]any); len(w) != 1 || !strings.Contains(w[0].(string), "TINY") {
		t.Errorf("warnings = %v, want one about TINY", created["warnings"])
	}

	// Write-only: names and metadata come back, values never.
	var bodies []string
	for _, path := range []string{"/api/v1/secrets", "/api/v1/secrets/" + secretName, "/api/v1/projects/app/secrets", "/api/v1/projects/app/secrets/" + secretName} {
		var v any
		e.Do("GET", path, nil, &v)
		b, _ := jsonString(v)
		bodies = append(bodies, b)
	}
	all := strings.Join(bodies, "\n")
	for _, s := range []string{orgValue, projectValue, fileValue, base64.StdEncoding.EncodeToString([]byte(fileValue))} {
		if strings.Contains(all, s) {
			t.Errorf("a secret value is in the API's answers:\n%s", all)
		}
	}
	for _, s := range []string{`"AWS_KEY"`, `".deploy/token"`, `"deploys the app"`, `"created_by": "admin"`} {
		if !strings.Contains(bodies[3], s) {
			t.Errorf("GET project secret lacks %s:\n%s", s, bodies[3])
		}
	}

	wf := e.WaitWorkflow(run(t, e, "app", "main"), 60*time.Second)
	job := wf.Jobs()["Deploy/Use it"]
	text := e.Log(job.ID)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow %s; log:\n%s", wf.Result, text)
	}
	if !strings.Contains(text, "the key is [MASKED]") {
		t.Errorf("log does not show the masked value:\n%s", text)
	}

	// No plaintext anywhere: the database files (SQLite and its WAL), the
	// log store, the server's logs, the API's log formats.
	values := []string{orgValue, projectValue, fileValue}
	for _, format := range []string{"text", "events"} {
		b := get(t, e, "", "/api/v1/jobs/"+job.ID+"/log?format="+format)
		for _, v := range values {
			if strings.Contains(b, v) {
				t.Errorf("log (%s) holds a secret value", format)
			}
		}
	}
	scanned := 0
	filepath.WalkDir(e.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // a file removed meanwhile
		}
		scanned++
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds a secret value in plaintext", p)
			}
		}
		return nil
	})
	for _, want := range []string{"baton.db", "baton.db-wal", "secret.key"} {
		if _, err := os.Stat(filepath.Join(e.DataDir, want)); err != nil {
			t.Errorf("expected %s in the data directory: %v", want, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(e.DataDir, "secret.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret.key mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if scanned < 3 {
		t.Errorf("scanned only %d files", scanned)
	}
	for _, v := range values {
		if strings.Contains(logs.String(), v) {
			t.Errorf("the server's logs hold a secret value:\n%s", logs.String())
		}
	}
	if logs.String() == "" {
		t.Errorf("the server logged nothing at debug level: the check above proves nothing")
	}

	// Anonymous visitors of the public project never see the secret's
	// name (the stored spec and graph are not serialised).
	for _, path := range []string{
		"/api/v1/projects/app/workflows",
		"/api/v1/workflows/" + wf.ID,
		"/api/v1/pipelines/" + wf.Pipelines[0].ID,
		"/api/v1/jobs/" + job.ID,
		"/api/v1/jobs/" + job.ID + "/commands",
		"/api/v1/jobs/" + job.ID + "/log",
		"/api/v1/jobs/" + job.ID + "/log?format=text",
		"/api/v1/jobs/" + job.ID + "/log?format=events",
	} {
		if b := get(t, e, "", path); strings.Contains(b, secretName) {
			t.Errorf("anonymous GET %s shows the secret's name:\n%s", path, b)
		}
	}
	for _, path := range []string{"/api/v1/secrets", "/api/v1/projects/app/secrets", "/api/v1/projects/app/secrets/" + secretName} {
		e.DoAs("", "GET", path, nil, nil, http.StatusUnauthorized)
	}
	e.DoAs("", "POST", "/api/v1/secrets", map[string]any{"name": "x"}, nil, http.StatusUnauthorized)

	// Update: add a variable, remove another; delete.
	var upd map[string]any
	e.Do("PUT", "/api/v1/projects/app/secrets/"+secretName, map[string]any{
		"env_vars":   []map[string]string{{"name": "REGION", "value": "eu-west-1"}},
		"remove_env": []string{"TINY"},
	}, &upd)
	if got := upd["env_vars"]; !equalJSON(got, []any{"AWS_KEY", "REGION"}) {
		t.Errorf("env_vars after update = %v", got)
	}
	e.Do("PUT", "/api/v1/projects/app/secrets/nope", map[string]any{}, nil, http.StatusNotFound)
	e.Do("POST", "/api/v1/projects/app/secrets", map[string]any{"name": secretName, "env_vars": []map[string]string{{"name": "A", "value": "abcd"}}}, nil, http.StatusConflict)
	e.Do("POST", "/api/v1/secrets", map[string]any{"name": "bad", "env_vars": []map[string]string{{"name": "1A", "value": "abcd"}}}, nil, http.StatusBadRequest)
	e.Do("DELETE", "/api/v1/projects/app/secrets/"+secretName, nil, nil)
	e.Do("GET", "/api/v1/projects/app/secrets/"+secretName, nil, nil, http.StatusNotFound)
}

func TestMissingSecretFailsTheJob(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 1)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": secretPipeline("x", "y")})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 30*time.Second)
	job := wf.Jobs()["Deploy/Use it"]
	if job.Result != ci.ResultFailed || job.Reason != ci.ReasonMalformed {
		t.Errorf("job = %s/%s, want failed/malformed", job.Result, job.Reason)
	}
	if log := e.Log(job.ID); !strings.Contains(log, `secret "`+secretName+`" not found`) {
		t.Errorf("log = %q", log)
	}
}

func TestSecretKeyRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := testenv.Start(t, testenv.Options{DataDir: dir})
	e.Do("POST", "/api/v1/secrets", map[string]any{"name": "s", "env_vars": []map[string]string{{"name": "V", "value": "rotate-me-value"}}}, nil, http.StatusCreated)
	oldKey, _ := os.ReadFile(filepath.Join(dir, server.SecretKeyFile))
	e.Stop()

	res, err := server.RotateSecretKey(context.Background(), server.RotateConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Secrets != 1 || res.OldKeyID == res.NewKeyID || res.KeyFile == "" {
		t.Errorf("rotation = %+v", res)
	}
	newKey, _ := os.ReadFile(filepath.Join(dir, server.SecretKeyFile))
	if bytes.Equal(oldKey, newKey) {
		t.Fatal("the key file did not change")
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.key.new")); !os.IsNotExist(err) {
		t.Errorf("the pending key file is left: %v", err)
	}
	// The server starts with the new key; with the old one it refuses.
	e2 := testenv.Start(t, testenv.Options{DataDir: dir})
	e2.Do("GET", "/api/v1/secrets/s", nil, nil)
	e2.Stop()
	if _, err := server.New(context.Background(), server.Config{DataDir: dir, Addr: "127.0.0.1:0", SecretKey: string(oldKey)}); err == nil || !strings.Contains(err.Error(), "not the one") {
		t.Errorf("a server with the old key: %v", err)
	}
	// An interrupted rotation (the database committed, the key file was
	// not replaced yet) is completed by the next start.
	os.Rename(filepath.Join(dir, server.SecretKeyFile), filepath.Join(dir, "secret.key.new"))
	os.WriteFile(filepath.Join(dir, server.SecretKeyFile), oldKey, 0o600)
	e3 := testenv.Start(t, testenv.Options{DataDir: dir})
	e3.Do("GET", "/api/v1/secrets/s", nil, nil)
	if got, _ := os.ReadFile(filepath.Join(dir, server.SecretKeyFile)); !bytes.Equal(got, newKey) {
		t.Errorf("the interrupted rotation was not completed")
	}
}

// get fetches a path with a token ("" anonymous) and returns the body.
func get(t *testing.T, e *testenv.Env, token, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", e.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: status %d: %s", path, resp.StatusCode, b)
	}
	return string(b)
}

func jsonString(v any) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	return string(b), err
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
