package browsertest

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/testenv"
)

// TestAdminPagesInTheBrowser: an organisation admin finds the admin pages
// from the menu and the project page, changes a project's settings, adds
// a member and a secret with the forms; the secret's value is on no page
// the browser loads. A signed-out visitor of the private project gets
// neither its settings nor its secrets' names.
func TestAdminPagesInTheBrowser(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	project(t, e, "vault", false, pipelineYAML("Hello", "echo hi"))
	e.Do("POST", "/api/v1/users", map[string]any{"login": "bob", "password": "bob's long password"}, nil, http.StatusCreated)
	const value = "browser-secret-Kd83"

	anon := newBrowser(t)
	for _, path := range []string{"/projects/vault/settings", "/projects/vault/secrets"} {
		if status := anon.open(e.URL, path); status != http.StatusNotFound {
			t.Errorf("a visitor opens %s: status %d, want 404", path, status)
		}
	}

	b := newBrowser(t)
	b.signIn(e, "root")
	// The menu leads to the organisation's pages.
	for _, link := range []string{"/settings/users", "/settings/agent-tokens", "/settings/secrets"} {
		if n := eval[int](b, `document.querySelectorAll('header a[href="`+link+`"]').length`); n != 1 {
			t.Errorf("the admin's menu lacks %s", link)
		}
	}
	b.open(e.URL, "/projects/vault")
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('a[href="/projects/vault/settings"]').click()`))
	b.wait(10*time.Second, "the settings page", `location.pathname === '/projects/vault/settings' && document.readyState === 'complete'`)
	b.do(
		chromedp.SetValue(chromedp.ID("s-poll"), "10m"),
		chromedp.SetValue(chromedp.ID("s-vis"), "public"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action="/projects/vault/settings"]').requestSubmit()`),
	)
	b.wait(10*time.Second, "the saved settings", `document.body.innerText.includes('Settings saved.') && document.getElementById('s-poll').value === '10m0s'`)
	b.do(
		chromedp.SendKeys(chromedp.ID("m-login"), "bob"),
		chromedp.SetValue(chromedp.ID("m-role"), "write"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#m-login').form.requestSubmit()`),
	)
	b.wait(10*time.Second, "the new member", `document.body.innerText.includes('Role saved.') && !!document.getElementById('role-bob')`)
	b.screenshot("project-settings")

	b.open(e.URL, "/projects/vault/secrets")
	b.do(
		chromedp.SendKeys(chromedp.ID("sec-name"), "deploy"),
		chromedp.SetValue(chromedp.ID("sec-env"), "DEPLOY_TOKEN="+value),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('sec-name').form.requestSubmit()`),
	)
	b.wait(10*time.Second, "the saved secret", `document.body.innerText.includes('Secret saved.') && document.body.innerText.includes('DEPLOY_TOKEN')`)
	if strings.Contains(eval[string](b, `document.documentElement.outerHTML`), value) {
		t.Error("the secret's value is on the page")
	}
	b.screenshot("project-secrets")

	b.open(e.URL, "/settings/users")
	b.wait(5*time.Second, "the users page", `document.body.innerText.includes('bob')`)
	// A new user with a generated password, shown once.
	b.do(
		chromedp.SendKeys(chromedp.ID("u-login"), "carol"),
		chromedp.SetValue(chromedp.ID("u-create"), "yes"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('u-login').form.requestSubmit()`),
	)
	b.wait(10*time.Second, "the new user", `!!document.getElementById('new-password') && document.getElementById('new-password').value.length >= 12`)
	var users []apiv1.User
	e.Do("GET", "/api/v1/users", nil, &users, http.StatusOK)
	if i := slices.IndexFunc(users, func(u apiv1.User) bool { return u.Login == "carol" }); i < 0 || !users[i].CanCreateProjects {
		t.Errorf("the user added with the form is missing or may not create projects: %+v", users)
	}
	b.open(e.URL, "/settings/users")
	if n := eval[int](b, `document.querySelectorAll('#new-password').length`); n != 0 {
		t.Error("the generated password is shown again after the page is reloaded")
	}
	b.screenshot("users")

	// An organisation secret that no project may use; its value is on no page.
	const orgValue = "org-secret-Xq27"
	b.open(e.URL, "/settings/secrets")
	b.do(
		chromedp.SendKeys(chromedp.ID("sec-name"), "registry"),
		chromedp.SetValue(chromedp.ID("sec-env"), "REGISTRY_TOKEN="+orgValue),
		chromedp.SetValue(chromedp.ID("sec-access"), "none"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('sec-name').form.requestSubmit()`),
	)
	b.wait(10*time.Second, "the saved organisation secret", `document.body.innerText.includes('Secret saved.') && document.body.innerText.includes('REGISTRY_TOKEN')`)
	if strings.Contains(eval[string](b, `document.documentElement.outerHTML`), orgValue) {
		t.Error("the organisation secret's value is on the page")
	}
	var orgSecret apiv1.SecretMeta
	e.Do("GET", "/api/v1/secrets/registry", nil, &orgSecret, http.StatusOK)
	if orgSecret.ProjectAccess != "none" {
		t.Errorf("the organisation secret's project policy is %q, want none", orgSecret.ProjectAccess)
	}
	b.open(e.URL, "/settings/agent-tokens")
	b.do(
		chromedp.SendKeys(chromedp.ID("at-name"), "host-1"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('at-name').form.requestSubmit()`),
	)
	b.wait(10*time.Second, "the new agent token", `!!document.getElementById('new-token') && document.getElementById('new-token').value.length > 10`)
}
