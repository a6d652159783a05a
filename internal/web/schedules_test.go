package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/testenv"
)

// testSchedules: the Schedules page lists a project's schedules with their
// next run and last runs to whoever can read the project; only writers
// get the Run form, with the declared parameters; the form needs the CSRF
// token and the write role; a run opens its workflow, whose page shows
// the schedule and the parameters. The project page's Run form takes
// free parameters.
func testSchedules(t *testing.T, s *site) {
	decl := []map[string]any{{"name": "ENV", "description": "Where it goes", "required": true, "options": []string{"staging", "prod"}, "default_value": "staging"}}
	for _, p := range []string{"pub", "priv"} {
		s.e.Do("POST", "/api/v1/projects/"+p+"/schedules", map[string]any{"name": "nightly", "cron": "0 3 * * *", "timezone": "Europe/Berlin", "branch": "main", "parameters": decl}, nil, http.StatusCreated)
	}
	for _, tc := range []struct {
		who, path string
		status    int
		has, not  []string
	}{
		{"anonymous", "/projects/pub/schedules", 200, []string{"nightly", "0 3 * * *", "Europe/Berlin", "Next run", "It has not run yet."}, []string{"Run nightly now", `name="csrf"`}},
		{"anonymous", "/projects/priv/schedules", 404, nil, []string{"nightly"}},
		{"outsider", "/projects/priv/schedules", 404, nil, []string{"nightly"}},
		{"outsider", "/projects/pub/schedules", 200, []string{"nightly"}, []string{"Run nightly now"}},
		{"reader", "/projects/priv/schedules", 200, []string{"nightly"}, []string{"Run nightly now"}},
		{"writer", "/projects/priv/schedules", 200, []string{"Run nightly now", `action="/projects/priv/schedules/nightly/run"`, `name="csrf"`, `name="param.ENV"`, `<option selected>staging</option>`, `<option>prod</option>`, "Where it goes"}, nil},
		{"reader", "/projects/priv", 200, []string{`href="/projects/priv/schedules"`}, nil},
	} {
		p := s.get(t, tc.who, tc.path)
		name := tc.who + " GET " + tc.path
		if p.status != tc.status {
			t.Errorf("%s: status %d, want %d", name, p.status, tc.status)
			continue
		}
		for _, want := range tc.has {
			if !strings.Contains(p.body, want) {
				t.Errorf("%s: page lacks %q", name, want)
			}
		}
		for _, no := range tc.not {
			if strings.Contains(p.body, no) {
				t.Errorf("%s: page has %q", name, no)
			}
		}
		if p.status == 200 {
			wellFormed(t, name, p.body)
		}
	}

	run := func(csrf string, env string) url.Values { return url.Values{"csrf": {csrf}, "param.ENV": {env}} }
	for _, tc := range []struct {
		name, who, project string
		form               url.Values
		status             int
	}{
		{"no token", "writer", "priv", url.Values{"param.ENV": {"prod"}}, http.StatusForbidden},
		{"another session's token", "writer", "priv", run(s.csrf("reader"), "prod"), http.StatusForbidden},
		{"reader", "reader", "priv", run(s.csrf("reader"), "prod"), http.StatusForbidden},
		{"outsider on a public project", "outsider", "pub", run(s.csrf("outsider"), "prod"), http.StatusForbidden},
		{"outsider on a private project", "outsider", "priv", run(s.csrf("outsider"), "prod"), http.StatusNotFound},
		{"anonymous", "anonymous", "pub", url.Values{"param.ENV": {"prod"}}, http.StatusUnauthorized},
		{"a value outside the options", "writer", "priv", run(s.csrf("writer"), "dev"), http.StatusBadRequest},
	} {
		if p := s.post(t, tc.who, "/projects/"+tc.project+"/schedules/nightly/run", tc.form); p.status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, p.status, tc.status)
		}
	}
	var ws []testenv.Workflow
	s.e.Do("GET", "/api/v1/projects/priv/workflows?limit=100", nil, &ws)
	for _, w := range ws {
		if w.Schedule != "" {
			t.Fatalf("a refused run made workflow %s", w.ID)
		}
	}

	p := s.post(t, "writer", "/projects/priv/schedules/nightly/run", run(s.csrf("writer"), "prod"))
	loc := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/workflows/") {
		t.Fatalf("run: status %d, Location %q", p.status, loc)
	}
	page := s.get(t, "reader", loc)
	for _, want := range []string{"schedule", `href="/projects/priv/schedules#schedule-nightly"`, "by writer", "<code>ENV=prod</code>"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the scheduled workflow's page lacks %q", want)
		}
	}
	page = s.get(t, "reader", "/projects/priv/schedules")
	if !strings.Contains(page.body, `href="`+loc+`"`) || !strings.Contains(page.body, "<code>ENV=prod</code>") {
		t.Errorf("the schedules page does not list the run %s", loc)
	}

	// The project page's Run form takes free parameters, one per line.
	p = s.post(t, "writer", "/projects/pub/run", url.Values{"csrf": {s.csrf("writer")}, "branch": {"main"}, "parameters": {"COLOR=blue\r\nSIZE = xl\n"}})
	loc = p.header.Get("Location")
	if p.status != http.StatusSeeOther {
		t.Fatalf("run with parameters: status %d", p.status)
	}
	var wf testenv.Workflow
	s.e.Do("GET", "/api/v1/workflows/"+strings.TrimPrefix(loc, "/workflows/"), nil, &wf)
	if wf.Parameters["COLOR"] != "blue" || wf.Parameters["SIZE"] != " xl" {
		t.Errorf("manual run's parameters = %v", wf.Parameters)
	}
	if p := s.post(t, "writer", "/projects/pub/run", url.Values{"csrf": {s.csrf("writer")}, "branch": {"main"}, "parameters": {"no equals sign"}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "NAME=VALUE") {
		t.Errorf("a malformed parameter: status %d", p.status)
	}
}
