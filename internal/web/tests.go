package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/testreport"
)

// testsPage is the data of tests.html: a workflow's test reports, failures
// first. It shows what a reader acts on, not every test: a report of
// 20,000 tests makes a page of a few hundred KiB.
type testsPage struct {
	Workflow apiv1.WorkflowView
	Query    string
	Summary  testreport.Summary
	Reports  int
	Failures []testRow
	// MoreFailures is how many failures are not shown.
	MoreFailures int
	Suites       []suiteRow
	Slowest      []testRow
	Matches      []testRow
	MoreMatches  int
}

// PageTitle is the page's title.
func (p testsPage) PageTitle() string {
	return "Tests of " + p.Workflow.Project + " #" + strconv.Itoa(p.Workflow.Number)
}

type testRow struct {
	JobID, Job, Report, Suite, Name, State string
	Duration                               time.Duration
	Message, Body, Output                  string
}

type suiteRow struct {
	Job, Report, Name string
	Summary           testreport.Summary
	// Failed counts failures and errors.
	Failed int
}

// The page's limits.
const (
	failuresShown = 100
	slowestTests  = 20
	matchesShown  = 200
	bodyShown     = 4 << 10
)

// tests shows the test reports the workflow's jobs published.
func (w *Web) tests(rw http.ResponseWriter, r *http.Request) {
	var page testsPage
	if _, err := w.apiGet(r, "/api/v1/workflows/"+url.PathEscape(r.PathValue("id")), &page.Workflow); err != nil {
		w.fail(rw, r, err)
		return
	}
	page.Query = strings.TrimSpace(r.URL.Query().Get("q"))
	q := strings.ToLower(page.Query)
	var all []testRow
	for _, pl := range page.Workflow.Pipelines {
		for _, b := range pl.Blocks {
			for _, j := range b.Jobs {
				var rep testreport.Result
				if code, err := w.apiGet(r, "/api/v1/jobs/"+url.PathEscape(j.ID)+"/tests", &rep); err != nil {
					if code == http.StatusNotFound {
						continue
					}
					w.fail(rw, r, err)
					return
				}
				page.Reports++
				job := b.Name + " / " + j.Name
				s := rep.Summary()
				page.Summary.Total += s.Total
				page.Summary.Passed += s.Passed
				page.Summary.Failed += s.Failed
				page.Summary.Error += s.Error
				page.Summary.Skipped += s.Skipped
				page.Summary.Disabled += s.Disabled
				page.Summary.Duration += s.Duration
				for _, tr := range rep.TestResults {
					for _, su := range tr.Suites {
						page.Suites = append(page.Suites, suiteRow{Job: job, Report: tr.Name, Name: su.Name, Summary: su.Summary, Failed: su.Summary.Failed + su.Summary.Error})
						for _, t := range su.Tests {
							row := testRow{JobID: j.ID, Job: job, Report: tr.Name, Suite: su.Name, Name: t.Name, State: string(t.State), Duration: t.Duration}
							if t.Classname != "" && t.Classname != su.Name && !strings.Contains(t.Name, t.Classname) {
								row.Name = t.Classname + "." + t.Name
							}
							if f := cmp.Or(t.Error, t.Failure); f != nil {
								row.Message, row.Body = f.Message, clip(f.Body, bodyShown)
								row.Output = clip(strings.TrimSpace(t.SystemOut+"\n"+t.SystemErr), bodyShown)
								page.Failures = append(page.Failures, row)
								row.Body, row.Output = "", ""
							}
							if q != "" && strings.Contains(strings.ToLower(row.Suite+" "+row.Name), q) {
								if len(page.Matches) < matchesShown {
									page.Matches = append(page.Matches, row)
								} else {
									page.MoreMatches++
								}
							}
							all = append(all, testRow{JobID: row.JobID, Job: row.Job, Suite: row.Suite, Name: row.Name, State: row.State, Duration: row.Duration})
						}
					}
				}
			}
		}
	}
	// Failures by suite and name; the first failuresShown are shown.
	slices.SortStableFunc(page.Failures, func(a, b testRow) int {
		return cmp.Or(cmp.Compare(a.Suite, b.Suite), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Job, b.Job))
	})
	if n := len(page.Failures); n > failuresShown {
		page.MoreFailures = n - failuresShown
		page.Failures = page.Failures[:failuresShown]
	}
	// Suites with failures first, then the slowest.
	slices.SortStableFunc(page.Suites, func(a, b suiteRow) int {
		fa, fb := a.Summary.Failed+a.Summary.Error, b.Summary.Failed+b.Summary.Error
		if (fa > 0) != (fb > 0) {
			if fa > 0 {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.Summary.Duration, a.Summary.Duration)
	})
	slices.SortStableFunc(all, func(a, b testRow) int { return cmp.Compare(b.Duration, a.Duration) })
	page.Slowest = all[:min(len(all), slowestTests)]
	w.render(rw, r, http.StatusOK, "tests.html", page)
}

// clip keeps the first n bytes of s.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "\n…"
}
