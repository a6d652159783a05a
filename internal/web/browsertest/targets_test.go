package browsertest

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/vault"
)

// TestDeploymentTargetsInTheBrowser: an admin creates a deployment target
// with a branch rule and a secret variable on the Deployments page,
// changes its rules, and deletes it, with the forms in Chromium; the
// secret's value is on no page.
func TestDeploymentTargetsInTheBrowser(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	project(t, e, "shipit", false, pipelineYAML("Hello", "echo hi"))
	const value = "target-secret-Hq27"
	get := func() (*vault.TargetMeta, int) {
		var m vault.TargetMeta
		status := e.Do("GET", "/api/v1/projects/shipit/targets/prod", nil, &m, http.StatusOK, http.StatusNotFound)
		return &m, status
	}

	b := newBrowser(t)
	b.signIn(e, "root")
	b.open(e.URL, "/projects/shipit/deployments")
	b.do(
		chromedp.SendKeys(chromedp.ID("t-name"), "prod"),
		chromedp.SetValue(chromedp.ID("t-desc"), "Production"),
		chromedp.SetValue(chromedp.ID("t-branches"), "main"),
		chromedp.SetValue(chromedp.ID("t-env"), "DEPLOY_TOKEN="+value),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('t-name').form.requestSubmit()`),
	)
	b.wait(10*time.Second, "the new target", `document.body.innerText.includes('Deployment target saved.') && !!document.getElementById('target-prod')`)
	if m, _ := get(); !slices.Equal(m.Branches, []string{"main"}) || !slices.Equal(m.EnvVars, []string{"DEPLOY_TOKEN"}) || m.Description != "Production" {
		t.Errorf("created target: %+v", m)
	}
	if strings.Contains(eval[string](b, `document.documentElement.outerHTML`), value) {
		t.Error("the target secret's value is on the page")
	}
	b.screenshot("deployment-target-created")

	// Change its rules: tags only, from pull requests too, writers.
	b.do(
		chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action="/projects/shipit/targets/prod"]').closest('details').open = true`),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('t-branches-prod').value = ''`),
		chromedp.SetValue(chromedp.ID("t-tags-prod"), "/^v[0-9]+/"),
		chromedp.SetValue(chromedp.ID("t-prs-prod"), "yes"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action="/projects/shipit/targets/prod"] input[name=roles][value=write]').checked = true`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action="/projects/shipit/targets/prod"]').requestSubmit()`),
	)
	b.wait(10*time.Second, "the changed target", `document.body.innerText.includes('Deployment target saved.') && document.body.innerText.includes('/^v[0-9]+/')`)
	if m, _ := get(); len(m.Branches) != 0 || !slices.Equal(m.Tags, []string{"/^v[0-9]+/"}) || !m.AllowPRs || !slices.Equal(m.Roles, []string{"write"}) ||
		!slices.Equal(m.EnvVars, []string{"DEPLOY_TOKEN"}) {
		t.Errorf("changed target: %+v", m)
	}

	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action="/projects/shipit/targets/prod/delete"]').requestSubmit()`))
	b.wait(10*time.Second, "the deleted target", `document.body.innerText.includes('Deployment target deleted.') && !document.getElementById('target-prod')`)
	if _, status := get(); status != http.StatusNotFound {
		t.Errorf("the deleted target answers %d, want 404", status)
	}
}
