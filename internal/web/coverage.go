package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
)

// Code coverage on the pages: a pipeline's percentage and its change
// from the default branch, a branch's trend on the project page, and
// the coverage badge.

// coverageSummary is a pipeline's coverage as the workflow page shows
// it.
type coverageSummary struct {
	Percent string // "75.0%"
	// Change is the change from Base in points ("+12.5", "-0.3", "±0");
	// Trend is up, down or same; both empty without a base.
	Change, Trend string
	BaseBranch    string
	BaseWorkflow  string
	View          apiv1.CoverageView
}

// pipelineCoverage reads a pipeline's coverage; nil when it has none or
// the caller may not see it.
func (w *Web) pipelineCoverage(r *http.Request, pipelineID string) *coverageSummary {
	var v apiv1.CoverageView
	if _, err := w.apiGet(r, "/api/v1/pipelines/"+url.PathEscape(pipelineID)+"/coverage", &v); err != nil {
		return nil
	}
	s := &coverageSummary{Percent: fmt.Sprintf("%.1f%%", v.Percent), View: v}
	if v.Change != nil && v.Base != nil {
		c := math.Round(*v.Change*10) / 10
		switch {
		case c > 0:
			s.Change, s.Trend = fmt.Sprintf("+%.1f", c), "up"
		case c < 0:
			s.Change, s.Trend = fmt.Sprintf("%.1f", c), "down"
		default:
			s.Change, s.Trend = "±0", "same"
		}
		s.BaseWorkflow, s.BaseBranch = v.Base.WorkflowID, v.Base.Branch
	}
	return s
}

// coverageTrend is a branch's coverage on the project page: a small
// chart (oldest to newest, left to right) and the table it draws.
type coverageTrend struct {
	apiv1.CoverageTrendView
	Chart template.HTML
}

func (w *Web) coverageTrend(r *http.Request, project, branch string) *coverageTrend {
	var v apiv1.CoverageTrendView
	path := "/api/v1/projects/" + url.PathEscape(project) + "/coverage?limit=30&branch=" + url.QueryEscape(branch)
	if _, err := w.apiGet(r, path, &v); err != nil || len(v.Pipelines) == 0 {
		return nil
	}
	return &coverageTrend{CoverageTrendView: v, Chart: trendSVG(v.Pipelines)}
}

// trendSVG draws points (newest first) as a line chart of 0-100%.
func trendSVG(points []apiv1.CoveragePoint) template.HTML {
	const width, height, pad = 300, 60, 4
	n := len(points)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="trend" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="Coverage of the last %d pipelines, from %.1f%% to %.1f%%">`,
		width, height, width, height, n, points[n-1].Percent, points[0].Percent)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="none" stroke="#ccc"/>`, width, height)
	var pts []string
	for i := range n {
		p := points[n-1-i]
		x := float64(width) / 2
		if n > 1 {
			x = pad + float64(i)*float64(width-2*pad)/float64(n-1)
		}
		y := pad + (100-p.Percent)*float64(height-2*pad)/100
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%.1f%% (%s)</title></circle>`, x, y, coverageColour(p.Percent), p.Percent, template.HTMLEscapeString(shortSHA(p.SHA)))
	}
	if n > 1 {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#555" stroke-width="1.5" points="%s"/>`, strings.Join(pts, " "))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// coverageColour is a coverage badge's colour by percentage (the
// shields.io palette, as coverage services use it).
func coverageColour(p float64) string {
	switch {
	case p >= 90:
		return "#4c1"
	case p >= 80:
		return "#97ca00"
	case p >= 70:
		return "#a4a61d"
	case p >= 60:
		return "#dfb317"
	case p >= 50:
		return "#fe7d37"
	}
	return "#e05d44"
}

// coverageBadge serves /badges/PROJECT/coverage.svg?branch=B: the
// coverage of the branch's (default: the default branch's) last
// pipeline with coverage, "unknown" without one. As the status badge, a
// project the caller may not read is 404, like one that does not exist.
func (w *Web) coverageBadge(rw http.ResponseWriter, r *http.Request) {
	name := r.PathValue("project")
	rw.Header().Set("Cache-Control", "no-cache, max-age=0")
	var p apiv1.Project
	base := "/api/v1/projects/" + url.PathEscape(name)
	if _, err := w.apiGet(r, base, &p); err != nil {
		http.Error(rw, "no such badge", http.StatusNotFound)
		return
	}
	branch := r.URL.Query().Get("branch")
	if branch == "" {
		branch = p.DefaultBranch
	}
	var trend apiv1.CoverageTrendView
	if _, err := w.apiGet(r, base+"/coverage?limit=1&branch="+url.QueryEscape(branch), &trend); err != nil {
		http.Error(rw, "no such badge", http.StatusNotFound)
		return
	}
	value, colour := "unknown", "#9f9f9f"
	if len(trend.Pipelines) > 0 {
		pc := trend.Pipelines[0].Percent
		value, colour = fmt.Sprintf("%.0f%%", math.Floor(pc)), coverageColour(pc)
		if pc < 100 && pc >= 99.5 {
			value = "99%" // never rounded up to a full 100%
		}
	}
	svg := badgeSVGColour("coverage", value, colour)
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
