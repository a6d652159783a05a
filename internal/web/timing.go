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

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/jobspec"
)

// timingRow is a bar of the waterfall: a block or a job, waiting (queued)
// then running, as offsets and widths in percent of the time axis.
type timingRow struct {
	// Pipeline is set on a pipeline's heading row (when the workflow has
	// several): its name and where it was promoted from.
	Pipeline, PromotedFrom string
	// In names the pipeline of a promoted pipeline's rows, for screen
	// readers.
	In       string
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
	Workflow apiv1.WorkflowView
	Start    time.Time
	Total    time.Duration
	// Ticks label the axis at a round step (axisTicks).
	Ticks   []tick
	Rows    []timingRow
	Slowest []slowCommand
}

// PageTitle is the page's title.
func (p timingPage) PageTitle() string {
	return "Timing of " + p.Workflow.Project + " #" + strconv.Itoa(p.Workflow.Number)
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
	// The axis ends at the first tick at or after the end, so that the
	// ticks are evenly spaced and each sits where its label says.
	var span time.Duration
	page.Ticks, span = axisTicks(page.Total)
	total := float64(span)
	bar := func(from, to time.Time) string {
		if from.IsZero() {
			return ""
		}
		if to.IsZero() {
			to = now
		}
		return barClasses(float64(from.Sub(start))/total*100, float64(to.Sub(from))/total*100)
	}
	names := map[string]string{}
	for _, pl := range page.Workflow.Pipelines {
		names[pl.ID] = pl.Name
	}
	several := len(page.Workflow.Pipelines) > 1
	for _, pl := range page.Workflow.Pipelines {
		in := ""
		if several {
			page.Rows = append(page.Rows, timingRow{Pipeline: pl.Name, PromotedFrom: names[pl.PromotionOf],
				Status: status(pl.State, pl.Result), Duration: spanText(pl.StartedAt, pl.DoneAt, now)})
			if pl.PromotionOf != "" {
				in = pl.Name
			}
		}
		for _, b := range pl.Blocks {
			page.Rows = append(page.Rows, timingRow{In: in, Label: b.Name, Status: status(b.State, b.Result),
				Duration: spanText(b.StartedAt, b.DoneAt, now), Run: bar(b.StartedAt, b.DoneAt)})
			for _, j := range b.Jobs {
				row := timingRow{In: in, Label: j.Name, Job: true, JobID: j.ID, Status: status(j.State, j.Result),
					Duration: spanText(j.StartedAt, j.DoneAt, now), Run: bar(j.StartedAt, j.DoneAt)}
				waitEnd := j.StartedAt
				if waitEnd.IsZero() && j.State == apiv1.StateDone {
					waitEnd = j.DoneAt
				}
				if !j.QueuedAt.IsZero() {
					row.Wait = bar(j.QueuedAt, waitEnd)
				}
				page.Rows = append(page.Rows, row)
				if j.State != apiv1.StateDone {
					continue
				}
				var cmds []apiv1.Command
				if _, err := w.apiGet(r, "/api/v1/jobs/"+url.PathEscape(j.ID)+"/commands", &cmds); err != nil {
					continue // a job without a readable log has no commands to rank
				}
				for _, c := range cmds {
					if c.FinishedAt == nil || c.StartedAt == nil || jobspec.Pseudo(c.Directive) {
						continue // unfinished, or the runner's own step
					}
					took := c.FinishedAt.Time().Sub(c.StartedAt.Time())
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

// tick is a label of the time axis and its place (an at-N class).
type tick struct {
	Label, At string
	// Edge is "first" or "last" for the ends, whose labels align inward.
	Edge string
}

// axisSteps are the round steps the time axis may count in.
var axisSteps = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// maxIntervals is the most intervals the axis is cut into.
const maxIntervals = 6

// axisTicks labels a time axis covering total: the smallest round step
// that cuts it into at most maxIntervals intervals, ticks at every
// multiple of it up to the first at or after total, which is the axis's
// span.
func axisTicks(total time.Duration) ([]tick, time.Duration) {
	total = max(total, time.Millisecond)
	step := axisSteps[len(axisSteps)-1]
	for _, s := range axisSteps {
		if (total+s-1)/s <= maxIntervals {
			step = s
			break
		}
	}
	n := int((total + step - 1) / step)
	span := time.Duration(n) * step
	ticks := make([]tick, 0, n+1)
	for i := 0; i <= n; i++ {
		t := tick{Label: tickLabel(time.Duration(i)*step, step), At: fmt.Sprintf("at-%d", i*200/n)}
		switch i {
		case 0:
			t.Edge = "first"
		case n:
			t.Edge = "last"
		}
		ticks = append(ticks, t)
	}
	return ticks, span
}

// tickLabel writes d, a multiple of step, as precisely as step needs:
// 0ms 200ms 400ms; 0s 0.5s 1s 1.5s; 0s 15s 30s 45s 1m 1m 15s; 1h 30m.
func tickLabel(d, step time.Duration) string {
	switch {
	case step < time.Second && d < time.Second && step*maxIntervals < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case step < time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		if s := int(d.Seconds()) % 60; s != 0 {
			return fmt.Sprintf("%dm %ds", int(d.Minutes()), s)
		}
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	if m := int(d.Minutes()) % 60; m != 0 {
		return fmt.Sprintf("%dh %dm", int(d.Hours()), m)
	}
	return fmt.Sprintf("%dh", int(d.Hours()))
}
