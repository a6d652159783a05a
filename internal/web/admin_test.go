package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
)

// testAdminPages: the pages that do in the browser what admins do with
// the CLI (project settings and members, secrets, users, agent tokens)
// answer each kind of visitor as the API's rules say, need the form's
// CSRF token, do what they say, and never show a secret's value.
func testAdminPages(t *testing.T, s *site) {
	// creator administers priv for this test.
	s.e.Do("PUT", "/api/v1/projects/priv/members/creator", map[string]any{"role": "admin"}, nil)
	defer s.e.Do("DELETE", "/api/v1/projects/priv/members/creator", nil, nil)

	for _, tc := range []struct {
		who, path string
		status    int
		has, not  []string
	}{
		{"anonymous", "/projects/priv/settings", 404, nil, []string{"Members"}},
		{"anonymous", "/projects/pub/settings", 401, []string{`action="/login"`}, []string{"Members"}},
		{"anonymous", "/projects/priv/secrets", 404, nil, nil},
		{"anonymous", "/projects/pub/secrets", 401, nil, nil},
		{"anonymous", "/settings/secrets", 401, nil, nil},
		{"anonymous", "/settings/users", 401, nil, []string{"orgadmin"}},
		{"anonymous", "/settings/agent-tokens", 401, nil, nil},
		{"outsider", "/projects/priv/settings", 404, nil, nil},
		{"outsider", "/projects/priv/secrets", 404, nil, nil},
		{"outsider", "/projects/pub/secrets", 403, nil, nil},
		{"reader", "/projects/priv/settings", 403, nil, []string{"Members"}},
		{"reader", "/projects/priv/secrets", 403, nil, nil},
		{"reader", "/projects/priv", 200, nil, []string{`/projects/priv/settings"`, `/projects/priv/secrets"`}},
		{"writer", "/projects/priv/settings", 403, nil, nil},
		{"writer", "/projects/priv", 200, []string{`href="/projects/priv/secrets"`}, []string{`href="/projects/priv/settings"`}},
		{"writer", "/projects/priv/secrets", 200, []string{secretName, "SECRET_VAR_NAME"}, []string{"Save secret", "/remove"}},
		{"writer", "/settings/users", 403, nil, nil},
		{"writer", "/settings/secrets", 403, nil, nil},
		{"writer", "/settings/agent-tokens", 403, nil, nil},
		{"writer", "/", 200, nil, []string{`href="/settings/users"`}},
		{"creator", "/projects/priv", 200, []string{`href="/projects/priv/settings"`}, nil},
		{"creator", "/projects/priv/settings", 200, []string{"Members and roles", "writer", "reader", `name="webhook_secret"`, `action="/projects/priv/delete"`}, nil},
		{"creator", "/projects/priv/secrets", 200, []string{secretName, "SECRET_VAR_NAME", "Save secret"}, nil},
		{"creator", "/settings/users", 403, nil, nil},
		{"orgadmin", "/", 200, []string{`href="/settings/users"`, `href="/settings/agent-tokens"`, `href="/settings/secrets"`}, nil},
		{"orgadmin", "/settings/users", 200, []string{"writer", "reader", "Add a user"}, nil},
		{"orgadmin", "/settings/agent-tokens", 200, []string{"Create a token"}, nil},
		{"orgadmin", "/settings/secrets", 200, []string{"Add or replace a secret"}, nil},
		{"orgadmin", "/", 200, []string{`href="/settings/notifications"`}, nil},
		{"writer", "/", 200, nil, []string{`href="/settings/notifications"`}},
	} {
		name := tc.who + " GET " + tc.path
		p := s.get(t, tc.who, tc.path)
		if p.status != tc.status {
			t.Errorf("%s: status %d, want %d", name, p.status, tc.status)
			continue
		}
		for _, want := range tc.has {
			if !strings.Contains(p.body, want) {
				t.Errorf("%s: page lacks %q", name, want)
			}
		}
		for _, bad := range tc.not {
			if strings.Contains(p.body, bad) {
				t.Errorf("%s: page shows %q", name, bad)
			}
		}
		if tc.status != 200 && strings.Contains(p.body, secretName) {
			t.Errorf("%s: a refusal shows a secret's name", name)
		}
		if strings.Contains(p.body, "hunter2") {
			t.Errorf("%s: page shows a secret's value", name)
		}
		wellFormed(t, name, p.body)
	}

	// Forms need the session's CSRF token and the role.
	settings := url.Values{"default_branch": {"main"}, "pipeline_file": {".semaphore/semaphore.yml"}, "visibility": {"private"}, "poll_interval": {"5m"}, "webhook_secret": {"hook-Vx81"}}
	if p := s.post(t, "creator", "/projects/priv/settings", settings); p.status != http.StatusForbidden {
		t.Errorf("settings without CSRF token: status %d, want 403", p.status)
	}
	withCSRF := func(who string, v url.Values) url.Values {
		out := url.Values{"csrf": {s.csrf(who)}}
		for k, vs := range v {
			out[k] = vs
		}
		return out
	}
	for _, who := range []string{"writer", "reader"} {
		if p := s.post(t, who, "/projects/priv/settings", withCSRF(who, settings)); p.status != http.StatusForbidden {
			t.Errorf("%s saves settings: status %d, want 403", who, p.status)
		}
	}
	if p := s.post(t, "anonymous", "/projects/pub/settings", settings); p.status != http.StatusUnauthorized {
		t.Errorf("anonymous saves settings: status %d, want 401", p.status)
	}
	p := s.post(t, "creator", "/projects/priv/settings", withCSRF("creator", settings))
	if p.status != http.StatusSeeOther {
		t.Fatalf("save settings: status %d: %.300s", p.status, p.body)
	}
	var proj ci.Project
	s.e.Do("GET", "/api/v1/projects/priv", nil, &proj)
	if proj.PollInterval.String() != "5m0s" || proj.Public {
		t.Errorf("settings not saved: poll %s public %v", proj.PollInterval, proj.Public)
	}
	if p := s.get(t, "creator", "/projects/priv/settings"); strings.Contains(p.body, "hook-Vx81") || !strings.Contains(p.body, `value="5m0s"`) {
		t.Error("the settings page shows the webhook secret or not the poll interval")
	}
	bad := withCSRF("creator", url.Values{"poll_interval": {"soon"}})
	if p := s.post(t, "creator", "/projects/priv/settings", bad); p.status != http.StatusBadRequest || !strings.Contains(p.body, `role="alert"`) {
		t.Errorf("bad poll interval: status %d, want 400 with the reason", p.status)
	}

	// Members: add, refuse an unknown user, remove.
	if p := s.post(t, "creator", "/projects/priv/members", withCSRF("creator", url.Values{"login": {"outsider"}, "role": {"read"}})); p.status != http.StatusSeeOther {
		t.Fatalf("add member: status %d: %.300s", p.status, p.body)
	}
	if p := s.get(t, "outsider", "/projects/priv"); p.status != 200 {
		t.Errorf("a new reader gets %d on the project", p.status)
	}
	if p := s.post(t, "creator", "/projects/priv/members", withCSRF("creator", url.Values{"login": {"nobody-here"}, "role": {"read"}})); p.status != http.StatusBadRequest || !strings.Contains(p.body, "no user nobody-here") {
		t.Errorf("unknown member: status %d", p.status)
	}
	if p := s.post(t, "writer", "/projects/priv/members", withCSRF("writer", url.Values{"login": {"writer"}, "role": {"admin"}})); p.status != http.StatusForbidden {
		t.Errorf("a writer makes themselves admin: status %d, want 403", p.status)
	}
	if p := s.post(t, "creator", "/projects/priv/members/outsider/remove", withCSRF("creator", nil)); p.status != http.StatusSeeOther {
		t.Errorf("remove member: status %d", p.status)
	}
	if p := s.get(t, "outsider", "/projects/priv"); p.status != 404 {
		t.Errorf("a removed member gets %d on the project, want 404", p.status)
	}

	// Secrets: values go in and never come out.
	const value, fileValue, newValue = "tok-value-Lp92x", "file-body-Qw77z", "tok-value-Mm31y"
	sec := url.Values{"name": {"web-made"}, "env": {"TOKEN=" + value + "\nOTHER=x-other-value"}, "file_path": {"/home/semaphore/key.pem"}, "file_content": {fileValue}}
	if p := s.post(t, "writer", "/projects/priv/secrets", withCSRF("writer", sec)); p.status != http.StatusForbidden {
		t.Errorf("a writer saves a secret: status %d, want 403", p.status)
	}
	if p := s.post(t, "creator", "/projects/priv/secrets", sec); p.status != http.StatusForbidden {
		t.Errorf("a secret without CSRF token: status %d, want 403", p.status)
	}
	p = s.post(t, "creator", "/projects/priv/secrets", withCSRF("creator", sec))
	if p.status != http.StatusSeeOther {
		t.Fatalf("save secret: status %d: %.300s", p.status, p.body)
	}
	list := s.get(t, "creator", "/projects/priv/secrets").body
	for _, want := range []string{"web-made", "TOKEN", "OTHER", "/home/semaphore/key.pem"} {
		if !strings.Contains(list, want) {
			t.Errorf("the secrets page lacks %q", want)
		}
	}
	// Replace one variable: the other stays.
	if p := s.post(t, "creator", "/projects/priv/secrets", withCSRF("creator", url.Values{"name": {"web-made"}, "env": {"TOKEN=" + newValue}, "remove_env": {"OTHER"}})); p.status != http.StatusSeeOther {
		t.Fatalf("replace secret: status %d: %.300s", p.status, p.body)
	}
	var views []apiv1.SecretView
	s.e.Do("GET", "/api/v1/projects/priv/secrets", nil, &views)
	for _, v := range views {
		if v.Name == "web-made" && (strings.Join(v.EnvVars, ",") != "TOKEN" || strings.Join(v.Files, ",") != "/home/semaphore/key.pem") {
			t.Errorf("after replacing: variables %v files %v", v.EnvVars, v.Files)
		}
	}
	if p := s.post(t, "creator", "/projects/priv/secrets", withCSRF("creator", url.Values{"name": {"bad"}, "env": {"no equals sign"}})); p.status != http.StatusBadRequest || !strings.Contains(p.body, "line 1") {
		t.Errorf("malformed variables: status %d", p.status)
	}
	for _, who := range []string{"creator", "writer", "orgadmin"} {
		body := s.get(t, who, "/projects/priv/secrets").body
		for _, v := range []string{value, newValue, fileValue, "x-other-value"} {
			if strings.Contains(body, v) {
				t.Errorf("the secrets page shows a value to %s", who)
			}
		}
	}
	if p := s.post(t, "creator", "/projects/priv/secrets/web-made/remove", withCSRF("creator", nil)); p.status != http.StatusSeeOther {
		t.Errorf("remove secret: status %d", p.status)
	}
	if strings.Contains(s.get(t, "creator", "/projects/priv/secrets").body, "web-made") {
		t.Error("a removed secret is still listed")
	}

	// Organisation secrets: organisation admins only.
	org := url.Values{"name": {"org-made"}, "env": {"ORG_TOKEN=" + value}}
	if p := s.post(t, "creator", "/settings/secrets", withCSRF("creator", org)); p.status != http.StatusForbidden {
		t.Errorf("a project admin saves an organisation secret: status %d, want 403", p.status)
	}
	if p := s.post(t, "orgadmin", "/settings/secrets", withCSRF("orgadmin", org)); p.status != http.StatusSeeOther {
		t.Fatalf("save organisation secret: status %d: %.300s", p.status, p.body)
	}
	if body := s.get(t, "orgadmin", "/settings/secrets").body; !strings.Contains(body, "org-made") || !strings.Contains(body, "ORG_TOKEN") || strings.Contains(body, value) {
		t.Error("the organisation secrets page does not list the secret, or shows its value")
	}
	if p := s.post(t, "orgadmin", "/settings/secrets/org-made/remove", withCSRF("orgadmin", nil)); p.status != http.StatusSeeOther {
		t.Errorf("remove organisation secret: status %d", p.status)
	}

	// Users.
	if p := s.post(t, "writer", "/settings/users", withCSRF("writer", url.Values{"login": {"sneaky"}})); p.status != http.StatusForbidden {
		t.Errorf("a writer adds a user: status %d, want 403", p.status)
	}
	p = s.post(t, "orgadmin", "/settings/users", withCSRF("orgadmin", url.Values{"login": {"newbie"}}))
	if p.status != http.StatusCreated || !strings.Contains(p.body, `id="new-password"`) {
		t.Fatalf("add user: status %d: %.300s", p.status, p.body)
	}
	if p := s.post(t, "orgadmin", "/settings/users/newbie", withCSRF("orgadmin", url.Values{"can_create_projects": {"yes"}})); p.status != http.StatusSeeOther {
		t.Errorf("update user: status %d", p.status)
	}
	var users []*ci.User
	s.e.Do("GET", "/api/v1/users", nil, &users)
	found := false
	for _, u := range users {
		if u.Login == "newbie" {
			found = u.CanCreateProjects
		}
	}
	if !found {
		t.Error("the new user may not create projects after the change")
	}
	if p := s.post(t, "orgadmin", "/settings/users/newbie/remove", withCSRF("orgadmin", url.Values{"confirm": {"newb"}})); p.status != http.StatusBadRequest {
		t.Errorf("remove user without typing the login: status %d, want 400", p.status)
	}
	if p := s.post(t, "orgadmin", "/settings/users/newbie/remove", withCSRF("orgadmin", url.Values{"confirm": {"newbie"}})); p.status != http.StatusSeeOther {
		t.Errorf("remove user: status %d", p.status)
	}
	if strings.Contains(s.get(t, "orgadmin", "/settings/users").body, "newbie") {
		t.Error("a removed user is still listed")
	}

	// Agent tokens.
	p = s.post(t, "orgadmin", "/settings/agent-tokens", withCSRF("orgadmin", url.Values{"name": {"host-9"}, "type": {"e1-standard-2"}}))
	if p.status != http.StatusCreated || !strings.Contains(p.body, `id="new-token"`) {
		t.Fatalf("create agent token: status %d: %.300s", p.status, p.body)
	}
	if p := s.post(t, "writer", "/settings/agent-tokens", withCSRF("writer", url.Values{"name": {"x"}})); p.status != http.StatusForbidden {
		t.Errorf("a writer creates an agent token: status %d, want 403", p.status)
	}
	var toks []apiv1.AgentTokenView
	s.e.Do("GET", "/api/v1/agent-tokens", nil, &toks)
	id := ""
	for _, tk := range toks {
		if tk.Name == "host-9" {
			id = tk.ID
		}
	}
	if p := s.post(t, "orgadmin", "/settings/agent-tokens/"+id+"/revoke", withCSRF("orgadmin", nil)); p.status != http.StatusSeeOther {
		t.Errorf("revoke agent token: status %d", p.status)
	}
	if body := s.get(t, "orgadmin", "/settings/agent-tokens").body; !strings.Contains(body, "revoked") {
		t.Error("the revoked token is not shown revoked")
	}

	// Notifications: listed for organisation admins with their endpoints
	// as scheme and host only; a test message is sent from the page and
	// shows in its deliveries; deleting needs the name typed again.
	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer receiver.Close()
	s.e.Do("POST", "/api/v1/notifications", map[string]any{"name": "oncall", "results": []string{"failed"}, "branches": []string{"main"},
		"webhook_endpoint": receiver.URL + "/private/path-token-Qz7", "webhook_secret": "sign-Kp2"}, nil, http.StatusCreated)
	for who, status := range map[string]int{"anonymous": 401, "writer": 403, "creator": 403} {
		if p := s.get(t, who, "/settings/notifications"); p.status != status || strings.Contains(p.body, "oncall") {
			t.Errorf("%s GET /settings/notifications: status %d, want %d (and no rule shown)", who, p.status, status)
		}
		if p := s.post(t, who, "/settings/notifications/oncall/test", withCSRF(who, nil)); p.status != status {
			t.Errorf("%s sends a test message: status %d, want %d", who, p.status, status)
		}
		if p := s.post(t, who, "/settings/notifications/oncall/delete", withCSRF(who, url.Values{"confirm": {"oncall"}})); p.status != status {
			t.Errorf("%s deletes a notification: status %d, want %d", who, p.status, status)
		}
	}
	p = s.get(t, "orgadmin", "/settings/notifications")
	if p.status != 200 || !strings.Contains(p.body, "oncall") || !strings.Contains(p.body, "signed") || !strings.Contains(p.body, "Nothing sent yet") {
		t.Errorf("notifications page: status %d: %.500s", p.status, p.body)
	}
	for _, bad := range []string{"path-token-Qz7", "sign-Kp2", "/private/"} {
		if strings.Contains(p.body, bad) {
			t.Errorf("the notifications page shows %q", bad)
		}
	}
	wellFormed(t, "notifications page", p.body)
	if p := s.post(t, "orgadmin", "/settings/notifications/oncall/test", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("test message without CSRF token: status %d, want 403", p.status)
	}
	if p := s.post(t, "orgadmin", "/settings/notifications/oncall/test", withCSRF("orgadmin", nil)); p.status != http.StatusSeeOther {
		t.Errorf("send a test message: status %d: %.300s", p.status, p.body)
	}
	s.e.Eventually(30*time.Second, func() bool {
		return hits.Load() == 1 && strings.Contains(s.get(t, "orgadmin", "/settings/notifications").body, ">sent<")
	}, "the test message to arrive (%d) and show as sent", hits.Load())
	if body := s.get(t, "orgadmin", "/settings/notifications").body; !strings.Contains(body, "test message") {
		t.Errorf("the delivery is not listed as a test message: %.500s", body)
	}
	if p := s.post(t, "orgadmin", "/settings/notifications/oncall/delete", withCSRF("orgadmin", url.Values{"confirm": {"oncal"}})); p.status != http.StatusBadRequest || !strings.Contains(p.body, "Type oncall again") {
		t.Errorf("delete without the name: status %d, want 400", p.status)
	}
	if p := s.post(t, "orgadmin", "/settings/notifications/oncall/delete", withCSRF("orgadmin", url.Values{"confirm": {"oncall"}})); p.status != http.StatusSeeOther {
		t.Errorf("delete notification: status %d: %.300s", p.status, p.body)
	}
	if body := s.get(t, "orgadmin", "/settings/notifications").body; strings.Contains(body, "oncall") || !strings.Contains(body, "No notifications yet") {
		t.Error("the deleted notification is still listed")
	}

	// Deleting a project needs its name typed again.
	s.e.Do("POST", "/api/v1/projects", map[string]any{"name": "doomed", "repo_url": s.repo.URL(), "default_branch": "main"}, nil, http.StatusCreated)
	if p := s.post(t, "orgadmin", "/projects/doomed/delete", withCSRF("orgadmin", url.Values{"confirm": {"doom"}})); p.status != http.StatusBadRequest {
		t.Errorf("delete without the name: status %d, want 400", p.status)
	}
	if p := s.post(t, "writer", "/projects/doomed/delete", withCSRF("writer", url.Values{"confirm": {"doomed"}})); p.status != http.StatusNotFound {
		t.Errorf("a stranger deletes a private project: status %d, want 404", p.status)
	}
	if p := s.post(t, "orgadmin", "/projects/doomed/delete", withCSRF("orgadmin", url.Values{"confirm": {"doomed"}})); p.status != http.StatusSeeOther {
		t.Errorf("delete project: status %d: %.300s", p.status, p.body)
	}
	if p := s.get(t, "orgadmin", "/projects/doomed"); p.status != http.StatusNotFound {
		t.Errorf("deleted project: status %d, want 404", p.status)
	}
}
