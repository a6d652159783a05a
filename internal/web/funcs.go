package web

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/batonci/baton/internal/apiv1"
)

// funcs are the helpers every template may call.
func (w *Web) funcs() template.FuncMap {
	return template.FuncMap{
		// static is a static file's URL with its version: {{static "style.css"}}.
		"static": w.staticURL,
		// duration is a human duration: 1m 23s.
		"duration": humanDuration,
		// history is a test's history (newest first) as drawn: oldest first.
		"history": historyStrip,
		// add adds two numbers.
		"add": func(a, b int) int { return a + b },
		// span is the human duration from a to b (b zero: until now).
		"span": func(a, b time.Time) string {
			if a.IsZero() {
				return ""
			}
			if b.IsZero() {
				b = time.Now()
			}
			return humanDuration(b.Sub(a))
		},
		// ago is a <time datetime> element with relative text.
		"size": humanSize,
		"ago":  func(t time.Time) template.HTML { return timeElement(t, time.Now()) },
		// status is the pill of a state and result: "running", "passed".
		"status":    status,
		"pill":      pill,
		"short":     shortSHA,
		"firstLine": firstLine,
		"flash":     flash,
		// join joins a list: {{join .Users ", "}}.
		"join": strings.Join,
		// has reports whether a list holds a string.
		"has": slices.Contains[[]string],
		// ms is a human duration from milliseconds.
		"ms": func(ms int64) string { return humanDuration(time.Duration(ms) * time.Millisecond) },
		// roles are a project's roles, weakest first.
		"roles": func() []string { return []string{"read", "write", "admin"} },
		// reason says in users' words why something ended as it did.
		"reason": reasonText,
		// ref names a workflow's ref: "main", "tag v1", "PR #7".
		"ref": refName,
		// dict builds a map from key, value pairs, for sub-templates.
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("dict: odd number of arguments")
			}
			m := map[string]any{}
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
	}
}

// humanDuration writes d as people read it: 850ms, 12s, 1m 23s, 2h 5m.
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
}

// relative writes how long ago t was, from now: "just now", "5 min ago",
// "3 h ago", "2 days ago", or the date.
func relative(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < 45*time.Second:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", max(1, int(d.Round(time.Minute).Minutes())))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	case d < 30*24*time.Hour:
		n := int(d.Hours() / 24)
		if n == 1 {
			return "yesterday"
		}
		return fmt.Sprintf("%d days ago", n)
	}
	return t.Format("2 Jan 2006")
}

// timeElement is <time datetime="RFC 3339" title="UTC">relative</time>.
func timeElement(t, now time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	utc := t.UTC()
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`,
		utc.Format(time.RFC3339), utc.Format("2006-01-02 15:04:05 UTC"), template.HTMLEscapeString(relative(t, now))))
}

// status is the word for a state and result: the result once done, else
// the state.
func status(state apiv1.State, result apiv1.Result) string {
	if state == apiv1.StateDone {
		if result == apiv1.ResultNone {
			return "done"
		}
		return string(result)
	}
	if state == "" {
		return "unknown"
	}
	return string(state)
}

// pill is a coloured label with its text (never colour alone).
func pill(state apiv1.State, result apiv1.Result) template.HTML {
	s := status(state, result)
	return template.HTML(fmt.Sprintf(`<span class="pill pill-%s">%s</span>`, s, s))
}

func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// refName names a workflow's ref: "main", "tag v1", "PR #7 (feature)".
func refName(w *apiv1.Workflow) string {
	switch w.RefType {
	case "tag":
		return "tag " + w.Tag
	case "pull-request":
		s := "PR #" + w.PR
		if w.PRBranch != "" {
			s += " (" + w.PRBranch + ")"
		}
		return s
	}
	return w.Branch
}

// reasonText says why a pipeline, block or job ended as it did, in users'
// words rather than the API's reason codes.
func reasonText(r apiv1.Reason) string {
	switch r {
	case apiv1.ReasonNone:
		return ""
	case apiv1.ReasonTest:
		return "a command failed"
	case apiv1.ReasonMalformed:
		return "it could not start: the pipeline or the job's definition is invalid"
	case apiv1.ReasonStuck:
		return "nothing could make progress"
	case apiv1.ReasonInternal:
		return "Baton itself failed; see the server's log"
	case apiv1.ReasonUser:
		return "stopped by a user"
	case apiv1.ReasonStrategy:
		return "canceled by a newer workflow (auto_cancel)"
	case apiv1.ReasonFastFailing:
		return "stopped because another job failed (fail_fast)"
	case apiv1.ReasonDeleted:
		return "its project was deleted"
	case apiv1.ReasonTimeout:
		return "it ran past its execution time limit"
	case apiv1.ReasonSkipped:
		return "skipped by its condition"
	case apiv1.ReasonDependency:
		return "a block it depends on did not pass"
	case apiv1.ReasonAgentLost:
		return "the agent running it stopped answering"
	}
	return string(r)
}
