package notification_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/notification"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

func TestMatches(t *testing.T) {
	pub := &ci.Project{Name: "web-app", Public: true}
	priv := &ci.Project{Name: "payroll"}
	branch := &ci.Workflow{RefType: "branch", Branch: "main"}
	tag := &ci.Workflow{RefType: "tag", Tag: "v1.2.0"}
	pr := &ci.Workflow{RefType: "pull-request", Branch: "main", PRBranch: "feature/x", PR: "7"}
	failed := &ci.Pipeline{File: ".semaphore/semaphore.yml", Result: ci.ResultFailed}
	passed := &ci.Pipeline{File: ".semaphore/deploy.yml", Result: ci.ResultPassed}
	for _, tc := range []struct {
		name string
		n    store.Notification
		proj *ci.Project
		wf   *ci.Workflow
		p    *ci.Pipeline
		want bool
	}{
		{"empty rule, public project", store.Notification{}, pub, branch, failed, true},
		{"empty rule, private project", store.Notification{}, priv, branch, failed, false},
		{"regex matching everything, private project", store.Notification{Projects: []string{"/.*/"}}, priv, branch, failed, false},
		{"regex, public project", store.Notification{Projects: []string{"/^web-/"}}, pub, branch, failed, true},
		{"regex not matching", store.Notification{Projects: []string{"/^api-/"}}, pub, branch, failed, false},
		{"private project named", store.Notification{Projects: []string{"/.*/", "payroll"}}, priv, branch, failed, true},
		{"exact branch", store.Notification{Branches: []string{"main"}}, pub, branch, failed, true},
		{"other branch", store.Notification{Branches: []string{"dev"}}, pub, branch, failed, false},
		{"branch regex against a tag", store.Notification{Branches: []string{"/^v1\\./"}}, pub, tag, failed, true},
		{"pull request's head branch", store.Notification{Branches: []string{"/^feature\\//"}}, pub, pr, failed, true},
		{"pull request's base branch", store.Notification{Branches: []string{"main"}}, pub, pr, failed, true},
		{"pipeline file", store.Notification{Pipelines: []string{".semaphore/deploy.yml"}}, pub, branch, passed, true},
		{"other pipeline file", store.Notification{Pipelines: []string{".semaphore/deploy.yml"}}, pub, branch, failed, false},
		{"result", store.Notification{Results: []string{"failed", "stopped"}}, pub, branch, failed, true},
		{"other result", store.Notification{Results: []string{"failed"}}, pub, branch, passed, false},
	} {
		if got := notification.Matches(&tc.n, tc.proj, tc.wf, tc.p); got != tc.want {
			t.Errorf("%s: Matches = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: 30 * time.Second} {
		if got := notification.Backoff(time.Second, 30*time.Second, attempt); got != want {
			t.Errorf("Backoff after attempt %d = %v, want %v", attempt, got, want)
		}
	}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	db    *store.DB
	vault *vault.Vault
	clock *clock
	svc   *notification.Service
}

func newFixture(t *testing.T, cfg notification.Config) *fixture {
	t.Helper()
	db := enginetest.OpenNew(t, "sqlite")
	key, _, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(t.Context(), vault.Config{Store: db, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	cfg.Store, cfg.Sealer, cfg.Now, cfg.BaseURL = db, v, c.Now, "http://baton.test"
	return &fixture{db: db, vault: v, clock: c, svc: notification.New(cfg)}
}

func val(s string) *secret.Value { v := secret.NewValue(s); return &v }
func list(l ...string) *[]string { return &l }

// receiver is an httptest endpoint that records what arrives and answers
// with the codes in order (then the last one).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	codes  []int
	bodies [][]byte
	heads  []http.Header
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	r := &receiver{codes: codes}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		code := r.codes[min(len(r.bodies), len(r.codes)-1)]
		r.bodies = append(r.bodies, b)
		r.heads = append(r.heads, req.Header.Clone())
		r.mu.Unlock()
		if code/100 == 3 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.bodies) }

func TestEndpointsSealedAndNeverShown(t *testing.T) {
	f := newFixture(t, notification.Config{})
	ctx := t.Context()
	slackURL := "https://hooks.slack.test/services/T000/B000/slack-token-7f3a"
	v, err := f.svc.Create(ctx, "team", notification.Change{Results: list("failed"), SlackEndpoint: val(slackURL), SlackChannels: list("#ci"),
		WebhookEndpoint: val("http://127.0.0.1:9/hook?token=hook-token-91"), WebhookSecret: val("webhook-secret-55")}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	for _, s := range []string{"slack-token-7f3a", "hook-token-91", "webhook-secret-55", "/services/"} {
		if strings.Contains(string(out), s) {
			t.Errorf("the view shows %q: %s", s, out)
		}
	}
	if v.Slack.Endpoint != "https://hooks.slack.test/…" || v.Webhook.Endpoint != "http://127.0.0.1:9/…" || !v.Webhook.Secret {
		t.Errorf("view = %s", out)
	}
	// At rest, sealed.
	n, err := f.db.GetNotification(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{n.SlackEndpoint, n.WebhookEndpoint, n.WebhookSecret} {
		if field == "" || strings.Contains(field, "token") || strings.Contains(field, "secret") {
			t.Errorf("stored field %q is not sealed", field)
		}
	}
	// Bound to the notification: copied to another, it does not open.
	if _, err := f.vault.OpenNotification("other-id", vault.NotificationSlackEndpoint, n.SlackEndpoint); !errors.Is(err, secret.ErrCorrupt) {
		t.Errorf("opened under another notification: %v", err)
	}
	// Removing the webhook endpoint removes its secret.
	v, err = f.svc.Update(ctx, "team", notification.Change{WebhookEndpoint: val("")}, "admin")
	if err != nil || v.Webhook != nil || v.Slack == nil {
		t.Fatalf("update = %+v, %v", v, err)
	}
	if n, _ := f.db.GetNotification(ctx, "team"); n.WebhookSecret != "" {
		t.Error("the webhook secret outlived its endpoint")
	}
}

func TestBadInputNamed(t *testing.T) {
	f := newFixture(t, notification.Config{})
	ctx := t.Context()
	hook := val("http://127.0.0.1:9/hook")
	for _, tc := range []struct {
		name string
		ch   notification.Change
		want string
	}{
		{"team", notification.Change{}, "a Slack endpoint or a webhook endpoint is required"},
		{"team", notification.Change{WebhookEndpoint: hook, Branches: list("main", "/feature[/")}, "branches[1] /feature[/: not a regular expression"},
		{"team", notification.Change{WebhookEndpoint: hook, Results: list("failed", "broken")}, `results[1] "broken": not a result`},
		{"team", notification.Change{WebhookEndpoint: hook, Projects: list("nope")}, `projects[0]: there is no project "nope"`},
		{"team", notification.Change{WebhookEndpoint: val("ftp://x/y")}, "webhook endpoint ftp://x/…: not an http:// or https:// URL"},
		{"team", notification.Change{SlackEndpoint: val("hooks.slack.com/services/x")}, "slack endpoint …: not an http:// or https:// URL"},
		{"team", notification.Change{SlackEndpoint: hook, WebhookSecret: val("s")}, "webhook secret: set without a webhook endpoint"},
		{"team", notification.Change{WebhookEndpoint: hook, Pipelines: list("")}, "pipelines[0]: empty"},
		{"team", notification.Change{SlackEndpoint: hook, SlackChannels: list("#a b")}, `slack channels[0] "#a b"`},
		{"a/b", notification.Change{WebhookEndpoint: hook}, "may not contain '/'"},
	} {
		_, err := f.svc.Create(ctx, tc.name, tc.ch, "admin")
		if !errors.Is(err, notification.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %q", tc.ch, err, tc.want)
		}
	}
	if ns, _ := f.db.ListNotifications(ctx); len(ns) != 0 {
		t.Errorf("%d notifications stored from bad input", len(ns))
	}
}

// TestRetriesWithBackoffThenFails: an endpoint that fails forever is
// tried Attempts times, Backoff apart and doubling (on the injected
// clock), each attempt's status recorded, then recorded as failed.
func TestRetriesWithBackoffThenFails(t *testing.T) {
	f := newFixture(t, notification.Config{Attempts: 3, Backoff: time.Second})
	ctx := t.Context()
	r := newReceiver(t, http.StatusBadGateway)
	if _, err := f.svc.Create(ctx, "team", notification.Change{SlackEndpoint: val(r.URL + "/services/x")}, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Test(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	step := func(want int) {
		t.Helper()
		n, err := f.svc.Step(ctx)
		if err != nil || n != want {
			t.Fatalf("Step at %v: %d sent, %v; want %d", f.clock.Now(), n, err, want)
		}
	}
	step(1)
	f.clock.Add(999 * time.Millisecond)
	step(0)
	f.clock.Add(time.Millisecond)
	step(1)
	f.clock.Add(2*time.Second - time.Millisecond)
	step(0)
	f.clock.Add(time.Millisecond)
	step(1)
	f.clock.Add(time.Hour)
	step(0)
	if r.count() != 3 {
		t.Errorf("the endpoint got %d requests, want 3", r.count())
	}
	ds, err := f.svc.Deliveries(ctx, "team", 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries = %v, %v", ds, err)
	}
	d := ds[0]
	if d.State != store.DeliveryFailed || d.HTTPStatus != 502 || len(d.AttemptLog) != 3 {
		t.Fatalf("delivery = %+v", d)
	}
	for i, a := range d.AttemptLog {
		if a.HTTPStatus != 502 || !strings.Contains(a.Error, "HTTP 502") || strings.Contains(a.Error, "/services/x") {
			t.Errorf("attempt %d = %+v", i+1, a)
		}
	}
}

func TestPermanentFailuresAndNoRedirects(t *testing.T) {
	f := newFixture(t, notification.Config{Attempts: 5, Backoff: time.Second})
	ctx := t.Context()
	target := newReceiver(t, http.StatusOK)
	redirect := httptest.NewServer(http.RedirectHandler(target.URL+"/stolen", http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	gone := newReceiver(t, http.StatusNotFound)
	for name, url := range map[string]string{"redirect": redirect.URL, "gone": gone.URL} {
		if _, err := f.svc.Create(ctx, name, notification.Change{WebhookEndpoint: val(url), WebhookSecret: val("k")}, "admin"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Test(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := f.svc.Step(ctx); n != 2 || err != nil {
		t.Fatalf("Step = %d, %v", n, err)
	}
	f.clock.Add(time.Hour)
	if n, _ := f.svc.Step(ctx); n != 0 {
		t.Errorf("a permanent failure was retried")
	}
	if target.count() != 0 {
		t.Errorf("the redirect was followed")
	}
	for name, want := range map[string]string{"redirect": "redirects are not followed", "gone": "HTTP 404"} {
		ds, _ := f.svc.Deliveries(ctx, name, 10)
		if len(ds) != 1 || ds[0].State != store.DeliveryFailed || !strings.Contains(ds[0].Error, want) || ds[0].Attempts != 1 {
			t.Errorf("%s: %+v, want failed with %q after one attempt", name, ds[0], want)
		}
	}
}

// TestTestMessages: a test message reaches each Slack channel in Slack's
// incoming-webhook format and the webhook as JSON signed with its secret.
func TestTestMessages(t *testing.T) {
	f := newFixture(t, notification.Config{})
	ctx := t.Context()
	slack, hook := newReceiver(t, http.StatusOK), newReceiver(t, http.StatusOK)
	if _, err := f.svc.Create(ctx, "team", notification.Change{SlackEndpoint: val(slack.URL + "/services/T/B/x"), SlackChannels: list("#ci", "@ops"),
		WebhookEndpoint: val(hook.URL + "/hook"), WebhookSecret: val("shared-secret")}, "admin"); err != nil {
		t.Fatal(err)
	}
	ds, err := f.svc.Test(ctx, "team")
	if err != nil || len(ds) != 3 {
		t.Fatalf("Test = %v, %v", ds, err)
	}
	if n, err := f.svc.Step(ctx); n != 3 || err != nil {
		t.Fatalf("Step = %d, %v", n, err)
	}
	if slack.count() != 2 || hook.count() != 1 {
		t.Fatalf("slack got %d, webhook %d", slack.count(), hook.count())
	}
	channels := map[string]bool{}
	for _, b := range slack.bodies {
		var m notification.SlackMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		channels[m.Channel] = true
		if !strings.Contains(m.Text, "http://baton.test/workflows/") || len(m.Attachments) != 1 || m.Attachments[0].Color != "danger" {
			t.Errorf("slack message = %s", b)
		}
	}
	if !channels["#ci"] || !channels["@ops"] {
		t.Errorf("channels = %v", channels)
	}
	body := hook.bodies[0]
	if got, want := hook.heads[0].Get(notification.SignatureHeader), notification.Sign("shared-secret", body); got != want || !strings.HasPrefix(got, "sha256=") {
		t.Errorf("signature %q, want %q", got, want)
	}
	var wb notification.WebhookBody
	if err := json.Unmarshal(body, &wb); err != nil || wb.Pipeline.Result != "failed" || wb.Project.Name != "sample" {
		t.Errorf("webhook body = %s (%v)", body, err)
	}
	ds, _ = f.svc.Deliveries(ctx, "team", 10)
	for _, d := range ds {
		if d.State != store.DeliverySent || d.HTTPStatus != 200 || len(d.AttemptLog) != 1 {
			t.Errorf("delivery = %+v", d)
		}
	}
}
