package web

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/batonci/baton/internal/api"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobspec"
)

// timingRow is a bar of the waterfall: a block or a job, waiting (queued)
// then running, as offsets and widths in percent of the time axis.
type timingRow struct {
	Label    string
	Job      bool
	JobID    string
	Status   string
	Duration string
	// Wait and Run are the bars' place as classes (barClasses); "" for
	// no bar.
	Wait, Run string
}

// slowCommand is one of the slowest commands of a workflow.
type slowCommand struct {
	JobID, Job string
	Index      int
	Directive  string
	Took       time.Duration
	ExitCode   *int
}

// timingPage is the data of timing.html.
type timingPage struct {
	Workflow api.WorkflowView
	Start    time.Time
	Total    time.Duration
	// Ticks label the axis at quarters.
	Ticks   []string
	Rows    []timingRow
	Slowest []slowCommand
}

// PageTitle is the page's title.
func (p timingPage) PageTitle() string {
	return "Timing of " + p.Workflow.Project + " #" + strconv.Itoa(p.Workflow.Number)
}

// command is a command's timing as GET /api/v1/jobs/{id}/commands gives
// it (times are Unix seconds).
type command struct {
	Index      int     `json:"index"`
	Directive  string  `json:"directive"`
	ExitCode   *int    `json:"exit_code"`
	StartedAt  float64 `json:"started_at"`
	FinishedAt float64 `json:"finished_at"`
}

// slowestShown is how many of the slowest commands the page lists.
const slowestShown = 20

// timing shows when a workflow's blocks and jobs waited and ran, and the
// slowest commands of its finished jobs.
func (w *Web) timing(rw http.ResponseWriter, r *http.Request) {
	var page timingPage
	if _, err := w.apiGet(r, "/api/v1/workflows/"+url.PathEscape(r.PathValue("id")), &page.Workflow); err != nil {
		w.fail(rw, r, err)
		return
	}
	now := time.Now()
	var start, end time.Time
	widen := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if start.IsZero() || t.Before(start) {
			start = t
		}
		if t.After(end) {
			end = t
		}
	}
	for _, pl := range page.Workflow.Pipelines {
		for _, b := range pl.Blocks {
			for _, j := range b.Jobs {
				widen(j.QueuedAt)
				widen(j.StartedAt)
				widen(j.DoneAt)
				if !j.StartedAt.IsZero() && j.DoneAt.IsZero() {
					widen(now)
				}
			}
		}
	}
	page.Start = start
	page.Total = end.Sub(start)
	total := float64(max(page.Total, time.Millisecond))
	bar := func(from, to time.Time) string {
		if from.IsZero() {
			return ""
		}
		if to.IsZero() {
			to = now
		}
		return barClasses(float64(from.Sub(start))/total*100, float64(to.Sub(from))/total*100)
	}
	for i := 0; i <= 4; i++ {
		page.Ticks = append(page.Ticks, humanDuration(page.Total*time.Duration(i)/4))
	}
	for _, pl := range page.Workflow.Pipelines {
		for _, b := range pl.Blocks {
			page.Rows = append(page.Rows, timingRow{Label: b.Name, Status: status(b.State, b.Result),
				Duration: spanText(b.StartedAt, b.DoneAt, now), Run: bar(b.StartedAt, b.DoneAt)})
			for _, j := range b.Jobs {
				row := timingRow{Label: j.Name, Job: true, JobID: j.ID, Status: status(j.State, j.Result),
					Duration: spanText(j.StartedAt, j.DoneAt, now), Run: bar(j.StartedAt, j.DoneAt)}
				waitEnd := j.StartedAt
				if waitEnd.IsZero() && j.State == ci.StateDone {
					waitEnd = j.DoneAt
				}
				if !j.QueuedAt.IsZero() {
					row.Wait = bar(j.QueuedAt, waitEnd)
				}
				page.Rows = append(page.Rows, row)
				if j.State != ci.StateDone {
					continue
				}
				var cmds []command
				if _, err := w.apiGet(r, "/api/v1/jobs/"+url.PathEscape(j.ID)+"/commands", &cmds); err != nil {
					continue // a job without a readable log has no commands to rank
				}
				for _, c := range cmds {
					if c.FinishedAt == 0 || c.StartedAt == 0 || jobspec.Pseudo(c.Directive) {
						continue // unfinished, or the runner's own step
					}
					took := time.Duration((c.FinishedAt - c.StartedAt) * float64(time.Second))
					page.Slowest = append(page.Slowest, slowCommand{JobID: j.ID, Job: j.Name, Index: c.Index, Directive: firstLine(c.Directive), Took: took, ExitCode: c.ExitCode})
				}
			}
		}
	}
	slices.SortStableFunc(page.Slowest, func(a, b slowCommand) int { return cmp.Compare(b.Took, a.Took) })
	if len(page.Slowest) > slowestShown {
		page.Slowest = page.Slowest[:slowestShown]
	}
	w.render(rw, r, http.StatusOK, "timing.html", page)
}

// spanText is the human duration from a to b (b zero: until now), "" when
// a is zero.
func spanText(a, b, now time.Time) string {
	if a.IsZero() {
		return ""
	}
	if b.IsZero() {
		b = now
	}
	return humanDuration(b.Sub(a))
}

// barClasses places a bar starting at left % of the track and width %
// wide, in steps of half a percent: classes at-N and w-N of style.css,
// not a style attribute, which the pages' Content-Security-Policy does
// not allow. A bar is at least one step wide.
func barClasses(left, width float64) string {
	at := min(max(int(math.Round(left*2)), 0), 199)
	w := min(max(int(math.Round(width*2)), 1), 200-at)
	return fmt.Sprintf("at-%d w-%d", at, w)
}
