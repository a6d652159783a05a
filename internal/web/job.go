package web

import (
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/logstore"
)

// The job page, /jobs/{id}: the job's header and its log.
//
// The log is served for two kinds of visitors. Without JavaScript the page
// holds the last tailLines lines, server-rendered in sections per command,
// and a link to the raw log. With JavaScript, log.js replaces them with a
// viewer that never holds the whole log: it starts from the same tail (in
// the page as JSON, so the first paint needs no request), fetches ranges
// of the compact line format (?format=lines) as the reader scrolls, keeps
// only the rows near the viewport in the DOM, searches on the server
// (?q=), and follows a running job by Server-Sent Events
// (?follow=1&format=lines).

// tailLines is how many lines of the log the page itself carries.
const tailLines = 500

// jobPage is the data of job.html.
type jobPage struct {
	Job       apiv1.JobView
	Project   string
	Pipeline  string
	AgentName string
	// WorkflowNumber is the workflow's number in its project ("#2").
	WorkflowNumber int
	// Write is set when the caller may stop and debug the job.
	Write bool
	// Sections is the server-rendered tail of the log.
	Sections []logSection
	// Total is the number of lines of the log so far; Shown how many of
	// them the page holds.
	Total, Shown int
	Boot         jobBoot
	Done         string // a notice after a form post (?done=)
	// Withheld are the notices of secrets withheld from the job (a pull
	// request from a fork), shown above the log and next to a failure.
	Withheld  []string
	Artifacts artifactList
}

// PageTitle is the document title.
func (p jobPage) PageTitle() string { return p.Job.Name }

// Wait is how long the job waited for an agent; Ran how long it ran (so
// far).
func (p jobPage) Wait() time.Duration { return between(p.Job.CreatedAt, p.Job.StartedAt) }

// Ran is how long the job ran, until now while it runs.
func (p jobPage) Ran() time.Duration { return between(p.Job.StartedAt, p.Job.DoneAt) }

// IsDone reports whether the job finished.
func (p jobPage) IsDone() bool { return p.Job.State == apiv1.StateDone }

func between(a, b time.Time) time.Duration {
	if a.IsZero() {
		return 0
	}
	if b.IsZero() {
		b = time.Now()
	}
	return b.Sub(a)
}

// logSection is a command's part of the server-rendered tail.
type logSection struct {
	Directive string
	ExitCode  *int
	Duration  time.Duration
	// Cut is set when the command's first lines are before the tail.
	Cut   bool
	Lines []logLine
}

// Finished reports whether the command finished; Exit is its exit code.
func (s logSection) Finished() bool { return s.ExitCode != nil }

// Exit is the command's exit code, 0 until it finishes.
func (s logSection) Exit() int {
	if s.ExitCode == nil {
		return 0
	}
	return *s.ExitCode
}

// logLine is a line of the server-rendered tail; N is 1-based, as shown.
type logLine struct {
	N    int
	HTML template.HTML
}

// jobBoot is what log.js starts from (JSON in the page).
type jobBoot struct {
	Job      string             `json:"job"`
	Done     bool               `json:"done"`
	Result   apiv1.Result       `json:"result"`
	Started  int64              `json:"started"` // Unix ms; 0 before the job starts
	Commands []logstore.Command `json:"commands"`
	Tail     apiv1.LogLines     `json:"tail"`
}

// job shows a job: its header and its log.
func (w *Web) job(rw http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	base := "/api/v1/jobs/" + url.PathEscape(id)
	var p jobPage
	if _, err := w.apiGet(r, base, &p.Job); err != nil {
		w.fail(rw, r, err)
		return
	}
	if p.Job.Job == nil {
		w.notFound(rw, r)
		return
	}
	var wf apiv1.WorkflowView
	if _, err := w.apiGet(r, "/api/v1/workflows/"+url.PathEscape(p.Job.Workflow), &wf); err == nil {
		p.Project = wf.Project
		if wf.Workflow != nil {
			p.WorkflowNumber = wf.Number
		}
		for _, pl := range wf.Pipelines {
			if pl.ID == p.Job.PipelineID {
				p.Pipeline = pl.Name
			}
		}
	}
	p.Artifacts = w.artifacts(r, base+"/artifacts")
	var access apiv1.AccessView
	if _, err := w.apiGet(r, "/api/v1/projects/"+url.PathEscape(p.Job.ProjectID)+"/access", &access); err == nil {
		p.Write = access.Write
	}
	// Organisation admins see the agent's name; others its machine type,
	// as the agents page shows them only the types.
	p.AgentName = p.Job.AgentName
	if p.AgentName == "" && p.Job.AgentID != "" {
		p.AgentName = "an " + p.Job.MachineType + " agent"
	}
	var cmds []logstore.Command
	if _, err := w.apiGet(r, base+"/commands", &cmds); err != nil {
		w.fail(rw, r, err)
		return
	}
	var tail apiv1.LogLines
	if _, err := w.apiGet(r, base+"/log?format=lines&tail="+strconv.Itoa(tailLines), &tail); err != nil {
		w.fail(rw, r, err)
		return
	}
	if cmds == nil {
		cmds = []logstore.Command{}
	}
	p.Withheld = w.withheld(r, base, cmds)
	if tail.Text == nil {
		tail.Text, tail.At = []string{}, []int64{}
	}
	p.Total, p.Shown = tail.Total, len(tail.Text)
	p.Sections = logSections(cmds, tail)
	p.Boot = jobBoot{Job: p.Job.ID, Done: p.IsDone(), Result: p.Job.Result, Commands: cmds, Tail: tail}
	if !p.Job.StartedAt.IsZero() {
		p.Boot.Started = p.Job.StartedAt.UnixMilli()
	}
	p.Done = r.URL.Query().Get("done")
	w.render(rw, r, http.StatusOK, "job.html", p)
}

// noticeLines is how many lines of the runner's first step the page reads
// for notices: they come first in it.
const noticeLines = 50

// withheld returns the notices of withheld secrets at the start of the
// job's log (in the runner's "Exporting environment variables" step,
// which the log shows folded).
func (w *Web) withheld(r *http.Request, base string, cmds []logstore.Command) []string {
	if len(cmds) == 0 || cmds[0].Directive != jobspec.DirectiveExportEnv {
		return nil
	}
	from, to := cmds[0].FirstLine+1, cmds[0].FirstLine+1+noticeLines
	if len(cmds) > 1 {
		to = min(to, cmds[1].FirstLine)
	}
	if to <= from {
		return nil
	}
	var lines apiv1.LogLines
	if _, err := w.apiGet(r, base+"/log?format=lines&from="+strconv.Itoa(from)+"&to="+strconv.Itoa(to), &lines); err != nil {
		return nil
	}
	var out []string
	for _, l := range lines.Text {
		if jobspec.IsWithheldNotice(l) {
			out = append(out, l)
		}
	}
	return out
}

// Failed reports whether the job failed.
func (p jobPage) Failed() bool {
	return p.Job.State == apiv1.StateDone && p.Job.Result == apiv1.ResultFailed
}

// logSections groups the tail's lines by the command they belong to; a
// command's "$ directive" line is its section's heading.
func logSections(cmds []logstore.Command, tail apiv1.LogLines) []logSection {
	var out []logSection
	cur := -2 // the command of the last section
	for i, text := range tail.Text {
		n := tail.From + i
		// The last command whose header is at or before n.
		c := sort.Search(len(cmds), func(k int) bool { return cmds[k].FirstLine > n }) - 1
		if c != cur || out == nil {
			cur = c
			s := logSection{}
			if c >= 0 {
				cmd := cmds[c]
				s.Directive, _, _ = strings.Cut(cmd.Directive, "\n")
				s.ExitCode = cmd.ExitCode
				if cmd.StartedAt != nil && cmd.FinishedAt != nil {
					s.Duration = cmd.FinishedAt.Time().Sub(cmd.StartedAt.Time())
				}
				s.Cut = n > cmd.FirstLine
			}
			out = append(out, s)
		}
		if c >= 0 && n == cmds[c].FirstLine {
			continue // the heading
		}
		last := &out[len(out)-1]
		last.Lines = append(last.Lines, logLine{N: n + 1, HTML: ansiHTML(text)})
	}
	return out
}

// stopJob stops a job (the stop button) and comes back to its page.
func (w *Web) stopJob(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	id := r.PathValue("id")
	var j apiv1.JobView
	if _, err := w.apiGet(r, "/api/v1/jobs/"+url.PathEscape(id), &j); err != nil {
		w.fail(rw, r, err)
		return
	}
	if j.Job == nil || !w.requireWrite(rw, r, j.ProjectID) {
		if j.Job == nil {
			w.notFound(rw, r)
		}
		return
	}
	if _, err := w.apiDo(r, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(id)+"/stop", nil, nil); err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/jobs/"+url.PathEscape(id), "Stopping the job.")
}
