package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
)

// badgeStatus is the word a badge shows for a branch's latest workflow:
// passed, failed, running, stopped, canceled, or unknown (no workflow).
func badgeStatus(w *apiv1.WorkflowSummary) string {
	switch {
	case w == nil:
		return "unknown"
	case w.State != apiv1.StateDone:
		return "running"
	case w.Result == apiv1.ResultNone:
		return "unknown"
	}
	return string(w.Result)
}

// badgeColour is the right half's colour (the shields.io palette).
func badgeColour(status string) string {
	switch status {
	case "passed":
		return "#4c1"
	case "failed":
		return "#e05d44"
	case "running":
		return "#dfb317"
	}
	return "#9f9f9f"
}

// textWidth estimates the width in pixels of s in 11px Verdana, the
// badge's font, closely enough for the badge's boxes.
func textWidth(s string) int {
	w := 0.0
	for _, c := range s {
		switch {
		case strings.ContainsRune("ijlt.,:;|!'", c):
			w += 3.9
		case strings.ContainsRune("frI()[] -", c):
			w += 4.9
		case strings.ContainsRune("mwMW", c):
			w += 10.7
		case c >= 'A' && c <= 'Z':
			w += 7.6
		default:
			w += 6.9
		}
	}
	return int(w + 0.5)
}

// badgeSVG draws a two-part badge in shields.io's flat style.
func badgeSVG(label, status string) string { return badgeSVGColour(label, status, badgeColour(status)) }

// badgeSVGColour is badgeSVG with the right half's colour given.
func badgeSVGColour(label, status, colour string) string {
	lw, sw := textWidth(label)+10, textWidth(status)+10
	total := lw + sw
	l, s := html.EscapeString(label), html.EscapeString(status)
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%[1]d" height="20" role="img" aria-label="%[3]s: %[4]s">`+
		`<title>%[3]s: %[4]s</title>`+
		`<linearGradient id="s" x2="0" y2="100%%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`+
		`<clipPath id="r"><rect width="%[1]d" height="20" rx="3" fill="#fff"/></clipPath>`+
		`<g clip-path="url(#r)"><rect width="%[2]d" height="20" fill="#555"/><rect x="%[2]d" width="%[5]d" height="20" fill="%[6]s"/><rect width="%[1]d" height="20" fill="url(#s)"/></g>`+
		`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="11">`+
		`<text x="%[7]d" y="15" fill="#010101" fill-opacity=".3">%[3]s</text><text x="%[7]d" y="14">%[3]s</text>`+
		`<text x="%[8]d" y="15" fill="#010101" fill-opacity=".3">%[4]s</text><text x="%[8]d" y="14">%[4]s</text></g></svg>`,
		total, lw, l, s, sw, colour, lw/2, lw+sw/2)
}

// badge serves /badges/PROJECT.svg?branch=B: the status of the latest
// workflow of the branch (default: the project's default branch). It is
// revalidated on every view (no-cache with an ETag). A project the caller
// may not read is 404, like one that does not exist.
//
// Semaphore's form /badges/PROJECT/branches/BRANCH.svg (the branch may
// contain '/') is served too, so badges of moved projects only change host.
func (w *Web) badge(rw http.ResponseWriter, r *http.Request) {
	file, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	name, branch := file, r.URL.Query().Get("branch")
	if project := r.PathValue("project"); project != "" {
		name, branch = project, file
	}
	if !ok || name == "" || file == "" {
		http.NotFound(rw, r)
		return
	}
	rw.Header().Set("Cache-Control", "no-cache, max-age=0")
	var p apiv1.Project
	base := "/api/v1/projects/" + url.PathEscape(name)
	if _, err := w.apiGet(r, base, &p); err != nil {
		// Whatever the reason (no such project, private), the same
		// answer: a badge must not tell private projects apart.
		http.Error(rw, "no such badge", http.StatusNotFound)
		return
	}
	if branch == "" {
		branch = p.DefaultBranch
	}
	var refs apiv1.RefsView
	if _, err := w.apiGet(r, base+"/refs", &refs); err != nil {
		http.Error(rw, "no such badge", http.StatusNotFound)
		return
	}
	var latest *apiv1.WorkflowSummary
	for i := range refs.Branches {
		if refs.Branches[i].Name == branch {
			latest = &refs.Branches[i].Workflow
		}
	}
	svg := badgeSVG(p.Name, badgeStatus(latest))
	sum := sha256.Sum256([]byte(svg))
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	rw.Header().Set("ETag", etag)
	rw.Header().Set("Content-Type", "image/svg+xml")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Header.Get("If-None-Match") == etag {
		rw.WriteHeader(http.StatusNotModified)
		return
	}
	rw.Write([]byte(svg))
}
