package notification

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/repourl"
)

// SignatureHeader carries a webhook body's signature when the webhook has
// a secret: "sha256=" and the hex HMAC-SHA256 of the body under the
// secret, as GitHub signs its webhooks.
const SignatureHeader = "X-Baton-Signature-256"

// Sign returns the SignatureHeader value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Event is what a message says: a pipeline that ended, with its workflow
// and project. Only metadata goes in: names, the commit, its author, the
// result and timing, links. Never a variable, a command, a log line or a
// pipeline file's content, which is where secret values live.
type Event struct {
	Project  *ci.Project
	Workflow *ci.Workflow
	// Pipeline is read with its blocks and jobs.
	Pipeline *ci.Pipeline
	// BaseURL is the server's URL, for links.
	BaseURL string
}

// WorkflowURL is the link to the workflow's page.
func (e *Event) WorkflowURL() string {
	return strings.TrimRight(e.BaseURL, "/") + "/workflows/" + e.Workflow.ID
}

// Ref is how the workflow's git reference reads: the branch, "tag T" or
// "pull request N (head → base)".
func (e *Event) Ref() string {
	wf := e.Workflow
	switch wf.RefType {
	case "tag":
		return "tag " + wf.Tag
	case "pull-request":
		return fmt.Sprintf("pull request #%s (%s → %s)", wf.PR, wf.PRBranch, wf.Branch)
	}
	return wf.Branch
}

// Duration is how long the pipeline ran (from creation to its end).
func (e *Event) Duration() time.Duration {
	p := e.Pipeline
	if p.DoneAt.IsZero() || p.CreatedAt.IsZero() {
		return 0
	}
	return p.DoneAt.Sub(p.CreatedAt).Round(time.Second)
}

// title is the first line of the commit message, at most 120 characters.
func title(msg string) string {
	line, _, _ := strings.Cut(msg, "\n")
	line = strings.TrimSpace(line)
	if len(line) > 120 {
		cut := 117
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		line = line[:cut] + "..."
	}
	return line
}

func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// escapeSlack escapes the characters Slack's message format gives a
// meaning to (&, <, >), so that a branch or a commit message cannot
// inject links or mentions.
func escapeSlack(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// SlackMessage is an incoming-webhook message.
type SlackMessage struct {
	Channel     string            `json:"channel,omitempty"`
	Username    string            `json:"username,omitempty"`
	Text        string            `json:"text"`
	Attachments []SlackAttachment `json:"attachments,omitempty"`
}

// SlackAttachment is a coloured block of fields under the text.
type SlackAttachment struct {
	Color     string       `json:"color"`
	Fallback  string       `json:"fallback"`
	Title     string       `json:"title"`
	TitleLink string       `json:"title_link"`
	Fields    []SlackField `json:"fields"`
}

// SlackField is one field of an attachment.
type SlackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

func resultColor(r ci.Result) string {
	switch r {
	case ci.ResultPassed:
		return "good"
	case ci.ResultFailed:
		return "danger"
	}
	return "warning"
}

// Slack returns the Slack message of e for channel ("" for the
// endpoint's own).
func (e *Event) Slack(channel string) SlackMessage {
	p, wf := e.Pipeline, e.Workflow
	link := e.WorkflowURL()
	head := fmt.Sprintf("%s: pipeline %s %s on %s", e.Project.Name, p.Name, p.Result, e.Ref())
	commit := shortSHA(wf.SHA)
	if t := title(wf.Message); t != "" {
		commit += " " + t
	}
	return SlackMessage{
		Channel:  channel,
		Username: "Baton",
		Text:     fmt.Sprintf("<%s|%s>", link, escapeSlack(head)),
		Attachments: []SlackAttachment{{
			Color:     resultColor(p.Result),
			Fallback:  escapeSlack(head),
			Title:     escapeSlack(fmt.Sprintf("%s #%d · %s", e.Project.Name, wf.Number, p.Name)),
			TitleLink: link,
			Fields: []SlackField{
				{Title: "Project", Value: escapeSlack(e.Project.Name), Short: true},
				{Title: "Branch", Value: escapeSlack(e.Ref()), Short: true},
				{Title: "Result", Value: string(p.Result), Short: true},
				{Title: "Duration", Value: e.Duration().String(), Short: true},
				{Title: "Author", Value: escapeSlack(wf.Author), Short: true},
				{Title: "Commit", Value: escapeSlack(commit), Short: false},
			},
		}},
	}
}

// WebhookBody is the generic webhook's JSON body.
type WebhookBody struct {
	Version    string         `json:"version"`
	Project    WebhookProject `json:"project"`
	Repository struct {
		URL string `json:"url"`
	} `json:"repository"`
	Revision WebhookRevision `json:"revision"`
	Workflow WebhookWorkflow `json:"workflow"`
	Pipeline WebhookPipeline `json:"pipeline"`
	Blocks   []WebhookBlock  `json:"blocks"`
}

// WebhookProject names the project.
type WebhookProject struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// WebhookRevision is the commit and reference.
type WebhookRevision struct {
	ReferenceType string `json:"reference_type"`
	Branch        string `json:"branch,omitempty"`
	Tag           string `json:"tag,omitempty"`
	PullRequest   string `json:"pull_request,omitempty"`
	PRBranch      string `json:"pr_branch,omitempty"`
	CommitSHA     string `json:"commit_sha"`
	CommitMessage string `json:"commit_message"`
	Author        string `json:"author"`
}

// WebhookWorkflow is the workflow.
type WebhookWorkflow struct {
	ID          string    `json:"id"`
	Number      int       `json:"number"`
	Trigger     string    `json:"triggered_by"`
	CreatedAt   time.Time `json:"created_at"`
	URL         string    `json:"url"`
	TriggeredBy string    `json:"triggered_by_user,omitempty"`
}

// WebhookPipeline is the pipeline that ended.
type WebhookPipeline struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	File       string    `json:"yaml_file_name"`
	State      string    `json:"state"`
	Result     string    `json:"result"`
	Reason     string    `json:"result_reason,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	DoneAt     time.Time `json:"done_at"`
	DurationMS int64     `json:"duration_ms"`
	Promotion  string    `json:"promotion,omitempty"`
}

// WebhookBlock is a block and its jobs' results.
type WebhookBlock struct {
	Name   string       `json:"name"`
	State  string       `json:"state"`
	Result string       `json:"result"`
	Jobs   []WebhookJob `json:"jobs"`
}

// WebhookJob is a job's result.
type WebhookJob struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Index  int    `json:"index"`
	Result string `json:"result"`
}

// Webhook returns the webhook body of e.
func (e *Event) Webhook() WebhookBody {
	p, wf := e.Pipeline, e.Workflow
	b := WebhookBody{Version: "1.0.0", Project: WebhookProject{ID: e.Project.ID, Name: e.Project.Name}}
	b.Repository.URL = repourl.Redact(e.Project.RepoURL)
	b.Revision = WebhookRevision{ReferenceType: wf.RefType, Branch: wf.Branch, Tag: wf.Tag, PullRequest: wf.PR, PRBranch: wf.PRBranch,
		CommitSHA: wf.SHA, CommitMessage: title(wf.Message), Author: wf.Author}
	b.Workflow = WebhookWorkflow{ID: wf.ID, Number: wf.Number, Trigger: string(wf.Trigger), CreatedAt: wf.CreatedAt.UTC(),
		URL: e.WorkflowURL(), TriggeredBy: wf.TriggeredBy}
	b.Pipeline = WebhookPipeline{ID: p.ID, Name: p.Name, File: p.File, State: string(p.State), Result: string(p.Result),
		Reason: string(p.Reason), CreatedAt: p.CreatedAt.UTC(), DoneAt: p.DoneAt.UTC(), DurationMS: e.Duration().Milliseconds(),
		Promotion: p.Promotion}
	b.Blocks = []WebhookBlock{}
	for _, bl := range p.Blocks {
		wb := WebhookBlock{Name: bl.Name, State: string(bl.State), Result: string(bl.Result), Jobs: []WebhookJob{}}
		for _, j := range bl.Jobs {
			wb.Jobs = append(wb.Jobs, WebhookJob{ID: j.ID, Name: j.Name, Index: j.Index, Result: string(j.Result)})
		}
		b.Blocks = append(b.Blocks, wb)
	}
	return b
}

// Sample is the event a test message describes: a made-up failed
// pipeline of a project named "sample".
func Sample(baseURL string, now time.Time) *Event {
	proj := &ci.Project{ID: "00000000-0000-0000-0000-000000000000", Name: "sample", RepoURL: "https://git.example.com/sample.git"}
	wf := &ci.Workflow{ID: "00000000-0000-0000-0000-000000000001", ProjectID: proj.ID, Number: 1, Trigger: ci.TriggerManual,
		RefType: "branch", Branch: "main", SHA: "0123456789abcdef0123456789abcdef01234567",
		Message: "A test message from Baton", Author: "Baton", CreatedAt: now.Add(-time.Minute)}
	p := &ci.Pipeline{ID: "00000000-0000-0000-0000-000000000002", WorkflowID: wf.ID, ProjectID: proj.ID, Name: "Test notification",
		File: ".semaphore/semaphore.yml", State: ci.StateDone, Result: ci.ResultFailed, Reason: ci.ReasonTest,
		CreatedAt: now.Add(-time.Minute), DoneAt: now}
	return &Event{Project: proj, Workflow: wf, Pipeline: p, BaseURL: baseURL}
}

// encode marshals a message.
func encode(v any) ([]byte, error) { return json.Marshal(v) }
