package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/forge/forgetest"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/trigger"
)

// rawHook posts a delivery and returns the status and the raw body.
func rawHook(t *testing.T, e *testenv.Env, project string, headers map[string]string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.URL+"/hooks/"+project, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWebhookNotFoundIsOneAnswer checks that an unsigned or wrongly
// signed delivery cannot tell a project that does not exist from a
// private one or one without a webhook secret: the status and the body
// are the same. A valid signature gets through.
func TestWebhookNotFoundIsOneAnswer(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline})
	createProject(t, e, "private", repo, map[string]any{"webhook_secret": "s3cret"})
	createProject(t, e, "nosecret", repo, map[string]any{"public": true})
	createProject(t, e, "private-nosecret", repo, nil)
	createProject(t, e, "public", repo, map[string]any{"public": true, "webhook_secret": "s3cret"})
	ping := []byte(`{"zen":"hello"}`)
	unknown, unknownBody := rawHook(t, e, "no-such-project", githubHeaders("ping", "s3cret", ping), ping)
	if unknown != http.StatusNotFound {
		t.Fatalf("unknown project: %d %s", unknown, unknownBody)
	}
	for _, tc := range []struct {
		name, project string
		headers       map[string]string
	}{
		{"private, unsigned", "private", map[string]string{"X-GitHub-Event": "ping"}},
		{"private, wrong secret", "private", githubHeaders("ping", "guess", ping)},
		{"no secret, signed", "nosecret", githubHeaders("ping", "s3cret", ping)},
		{"no secret, signed with the empty key", "nosecret", githubHeaders("ping", "", ping)},
		{"private without secret", "private-nosecret", githubHeaders("ping", "", ping)},
	} {
		code, body := rawHook(t, e, tc.project, tc.headers, ping)
		if code != unknown || body != unknownBody {
			t.Errorf("%s: %d %q; want the unknown project's %d %q", tc.name, code, body, unknown, unknownBody)
		}
	}
	// A public project's existence is no secret: its bad signature says why.
	if code, body := rawHook(t, e, "public", map[string]string{"X-GitHub-Event": "ping"}, ping); code != http.StatusUnauthorized || !strings.Contains(body, "X-Hub-Signature-256") {
		t.Errorf("public, unsigned: %d %s", code, body)
	}
	if code, body := rawHook(t, e, "private", githubHeaders("ping", "s3cret", ping), ping); code != http.StatusOK || !strings.Contains(body, "pong") {
		t.Errorf("private, signed: %d %s", code, body)
	}
	// The project admin still sees why deliveries were refused.
	var ds []struct{ Status, Message string }
	e.Do("GET", "/api/v1/projects/private/deliveries", nil, &ds)
	if len(ds) != 3 || !strings.Contains(ds[1].Message, "X-Hub-Signature-256") {
		t.Errorf("private project's deliveries = %+v, want the pong and two rejections saying why", ds)
	}
}

// TestDuplicateDeliveryIgnored checks a delivery ID accepted before is
// answered 200 and not run again, while a redelivery through the API
// runs it again.
func TestDuplicateDeliveryIgnored(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline, "hello.txt": "hi\n"})
	createProject(t, e, "app", repo, map[string]any{"webhook_secret": "s3cret"})
	sha := repo.Git("rev-parse", "HEAD")
	push := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":%q}`, sha))
	headers := githubHeaders("push", "s3cret", push)
	headers["X-GitHub-Delivery"] = "delivery-72d3162e"
	code, msg := hook(t, e, "app", headers, push)
	if code != http.StatusCreated {
		t.Fatalf("first delivery: %d %s", code, msg)
	}
	// The same delivery again, even for a commit not built yet: ignored.
	repo.Commit("second", map[string]string{"hello.txt": "again\n"})
	second := repo.Git("rev-parse", "HEAD")
	push2 := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":%q,"after":%q}`, sha, second))
	headers2 := githubHeaders("push", "s3cret", push2)
	headers2["X-GitHub-Delivery"] = "delivery-72d3162e"
	for range 3 {
		if code, msg := hook(t, e, "app", headers2, push2); code != http.StatusOK || !strings.Contains(msg, "already received") {
			t.Errorf("repeated delivery: %d %s, want 200 already received", code, msg)
		}
	}
	var wfs []ci.Workflow
	e.Do("GET", "/api/v1/projects/app/workflows", nil, &wfs)
	if len(wfs) != 1 {
		t.Errorf("%d workflows, want 1: the repeated delivery ran", len(wfs))
	}
	var ds []struct{ ID, Status string }
	e.Do("GET", "/api/v1/projects/app/deliveries", nil, &ds)
	if len(ds) != 1 || ds[0].ID != "delivery-72d3162e" {
		t.Fatalf("deliveries = %+v, want the first one only", ds)
	}
	// A rejected delivery does not block the real one with the same ID.
	bad := githubHeaders("push", "guess", push2)
	bad["X-GitHub-Delivery"] = "delivery-0b1c"
	if code, _ := hook(t, e, "app", bad, push2); code != http.StatusNotFound {
		t.Errorf("forged delivery: %d, want 404", code)
	}
	good := githubHeaders("push", "s3cret", push2)
	good["X-GitHub-Delivery"] = "delivery-0b1c"
	if code, msg := hook(t, e, "app", good, push2); code != http.StatusCreated {
		t.Errorf("real delivery after a forged one with its ID: %d %s", code, msg)
	}
	// Redelivery through the API runs it again.
	var again struct{ Message string }
	e.Do("POST", "/api/v1/projects/app/deliveries/delivery-72d3162e/redeliver", nil, &again)
	if !strings.HasPrefix(again.Message, "workflow ") {
		t.Errorf("redelivery: %q, want a new workflow", again.Message)
	}
}

// TestDeliveriesBounded checks what anyone can make the server store is
// capped: the kept headers, and the number of rejected deliveries.
func TestDeliveriesBounded(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline})
	createProject(t, e, "app", repo, map[string]any{"public": true, "webhook_secret": "s3cret"})
	ping := []byte(`{"zen":"hello"}`)
	huge := strings.Repeat("x", 6<<10)
	for i := range trigger.KeptRejected + 5 {
		h := map[string]string{"X-GitHub-Event": "ping", "X-GitHub-Delivery": fmt.Sprintf("r-%d", i),
			"X-Gitlab-Event": huge, "X-Gitea-Event": huge}
		if code, _ := hook(t, e, "app", h, ping); code != http.StatusUnauthorized {
			t.Fatalf("unsigned delivery %d: %d", i, code)
		}
	}
	signed := githubHeaders("ping", "s3cret", ping)
	signed["X-GitHub-Delivery"] = strings.Repeat("d", 300)
	if code, msg := hook(t, e, "app", signed, ping); code != http.StatusOK {
		t.Fatalf("signed ping: %d %s", code, msg)
	}
	var ds []struct {
		ID, Status string
		Headers    map[string]string
	}
	e.Do("GET", "/api/v1/projects/app/deliveries?limit=500", nil, &ds)
	if len(ds) != trigger.KeptRejected+1 {
		t.Errorf("%d deliveries kept, want %d rejected and the ping", len(ds), trigger.KeptRejected)
	}
	if len(ds) > 0 && (ds[0].Status != "ok" || len(ds[0].ID) > 128) {
		t.Errorf("newest delivery = %s %q, want the ping under an ID of Baton's", ds[0].Status, ds[0].ID)
	}
	d, err := e.Server.Store.GetDelivery(t.Context(), projectID(t, e, "app"), ds[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for k, v := range d.Headers {
		size += len(k) + len(v)
	}
	if size > 8<<10 {
		t.Errorf("a delivery kept %d bytes of headers, want at most 8 KiB", size)
	}
}

func projectID(t *testing.T, e *testenv.Env, name string) string {
	t.Helper()
	var p ci.Project
	e.Do("GET", "/api/v1/projects/"+name, nil, &p)
	return p.ID
}

// TestForgeTokenStaysWithItsForge checks that changing a project's forge
// URL or kind clears its forge token, so that statuses sent to the new
// URL never carry the token given for the old one.
func TestForgeTokenStaysWithItsForge(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 1)
	trusted, other := forgetest.NewStatusServer(t), forgetest.NewStatusServer(t)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline, "hello.txt": "hi\n"})
	createProject(t, e, "app", repo, map[string]any{"forge": "gitea", "forge_url": trusted.URL(), "forge_repo": "ada/app", "forge_token": "gitea-tok-Zq81"})
	tokenOf := func() string {
		p, err := e.Server.Store.GetProject(t.Context(), "app")
		if err != nil {
			t.Fatal(err)
		}
		return p.ForgeToken
	}
	runAndWaitStatuses := func(s *forgetest.StatusServer) {
		t.Helper()
		before := len(s.Calls())
		e.WaitWorkflow(run(t, e, "app", "main"), 60*time.Second)
		e.Eventually(30*time.Second, func() bool { return len(s.Calls()) > before }, "statuses reach %s", s.URL())
	}
	runAndWaitStatuses(trusted)
	if got := trusted.Calls()[0].Header.Get("Authorization"); !strings.Contains(got, "gitea-tok-Zq81") {
		t.Fatalf("the trusted forge got Authorization %q, want the token", got)
	}
	if tokenOf() == "" {
		t.Fatal("no token stored")
	}
	// The URL changes: the token is cleared, and the new URL never sees it.
	e.Do("PATCH", "/api/v1/projects/app", map[string]any{"forge_url": other.URL()}, nil)
	if tok := tokenOf(); tok != "" {
		t.Errorf("token after a forge URL change = %q, want cleared", tok)
	}
	runAndWaitStatuses(other)
	for _, c := range other.Calls() {
		if strings.Contains(fmt.Sprint(c.Header), "gitea-tok-Zq81") {
			t.Errorf("the token given for %s was sent to %s", trusted.URL(), other.URL())
		}
	}
	// A new token for the new URL is kept; a kind change clears it.
	e.Do("PATCH", "/api/v1/projects/app", map[string]any{"forge_token": "gitea-tok-2"}, nil)
	if tokenOf() == "" {
		t.Error("the new token was not stored")
	}
	e.Do("PATCH", "/api/v1/projects/app", map[string]any{"forge": "gitlab"}, nil)
	if tok := tokenOf(); tok != "" {
		t.Errorf("token after a forge kind change = %q, want cleared", tok)
	}
}
