package web

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
)

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 850 * time.Millisecond: "850ms", 12 * time.Second: "12s",
		83 * time.Second: "1m 23s", 2*time.Hour + 5*time.Minute + 9*time.Second: "2h 5m",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestTimeElement(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for ago, want := range map[time.Duration]string{
		10 * time.Second: "just now", 5 * time.Minute: "5 min ago", 3 * time.Hour: "3 h ago",
		30 * time.Hour: "yesterday", 4 * 24 * time.Hour: "4 days ago", 90 * 24 * time.Hour: "10 Dec 2025",
	} {
		got := string(timeElement(now.Add(-ago), now))
		if !strings.Contains(got, ">"+want+"</time>") || !strings.Contains(got, `datetime="`+now.Add(-ago).Format(time.RFC3339)+`"`) {
			t.Errorf("%v ago: %s, want %q", ago, got, want)
		}
	}
	if timeElement(time.Time{}, now) != "" {
		t.Error("a zero time is not empty")
	}
}

func TestColumnsByDependencyDepth(t *testing.T) {
	b := func(name string, deps ...string) *apiv1.Block { return &apiv1.Block{Name: name, Dependencies: deps} }
	blocks := []*apiv1.Block{b("A"), b("B", "A"), b("C", "A"), b("D", "B", "C"), b("E", "A", "D"), b("X", "ghost"),
		b("L1", "L2"), b("L2", "L1"), {Name: "after", AfterPipeline: true}}
	cols, after := columns(blocks)
	got := [][]string{}
	for _, col := range cols {
		var names []string
		for _, b := range col {
			names = append(names, b.Name)
		}
		got = append(got, names)
	}
	// A cycle (which the parser refuses) is cut where it is found.
	want := "[[A X] [B C L2] [D L1] [E]]"
	if s := strings.Join(strings.Fields(strings.ReplaceAll(fmtNames(got), ",", " ")), " "); s != want {
		t.Errorf("columns = %s, want %s", s, want)
	}
	if len(after) != 1 || after[0].Name != "after" {
		t.Errorf("after = %v", after)
	}
}

func fmtNames(cols [][]string) string {
	var parts []string
	for _, c := range cols {
		parts = append(parts, "["+strings.Join(c, " ")+"]")
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestBadgeSVG(t *testing.T) {
	for _, tc := range []struct {
		w    *apiv1.WorkflowSummary
		want string
	}{
		{nil, "unknown"},
		{&apiv1.WorkflowSummary{Workflow: &apiv1.Workflow{State: apiv1.StateRunning}}, "running"},
		{&apiv1.WorkflowSummary{Workflow: &apiv1.Workflow{State: apiv1.StatePending}}, "running"},
		{&apiv1.WorkflowSummary{Workflow: &apiv1.Workflow{State: apiv1.StateDone, Result: apiv1.ResultPassed}}, "passed"},
		{&apiv1.WorkflowSummary{Workflow: &apiv1.Workflow{State: apiv1.StateDone, Result: apiv1.ResultFailed}}, "failed"},
		{&apiv1.WorkflowSummary{Workflow: &apiv1.Workflow{State: apiv1.StateDone, Result: apiv1.ResultStopped}}, "stopped"},
	} {
		if got := badgeStatus(tc.w); got != tc.want {
			t.Errorf("badgeStatus = %q, want %q", got, tc.want)
		}
	}
	svg := badgeSVG(`a<b&"c`, "passed")
	if strings.Contains(svg, `a<b`) || !strings.Contains(svg, "a&lt;b&amp;&#34;c") {
		t.Errorf("the label is not escaped: %s", svg)
	}
	if textWidth("mmmm") <= textWidth("iiii") {
		t.Error("wide letters are not wider")
	}
}

func TestFlashTextsAreFixed(t *testing.T) {
	if flash("<script>") != "" || flash("created") == "" {
		t.Error("flash accepts arbitrary text or lacks a known code")
	}
}

// TestBarClassesAreInTheStylesheet checks each class barClasses gives has
// its rule in style.css, at the ends too.
func TestBarClassesAreInTheStylesheet(t *testing.T) {
	css, err := static.ReadFile("static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		left, width float64
		want        string
	}{
		{0, 100, "at-0 w-200"}, {12.3, 0.01, "at-25 w-1"}, {99.9, 5, "at-199 w-1"}, {50, 60, "at-100 w-100"}, {-1, 3, "at-0 w-6"},
	} {
		got := barClasses(tc.left, tc.width)
		if got != tc.want {
			t.Errorf("barClasses(%g, %g) = %q, want %q", tc.left, tc.width, got, tc.want)
		}
		for _, c := range strings.Fields(got) {
			if !strings.Contains(string(css), "."+c+" {") {
				t.Errorf("style.css lacks .%s", c)
			}
		}
	}
}

// TestAxisTicks: the timing page's axis counts in a round step, evenly
// spaced, each label where its time is, the axis ending on a tick.
func TestAxisTicks(t *testing.T) {
	for _, tc := range []struct {
		total time.Duration
		want  string
		span  time.Duration
	}{
		{3200 * time.Millisecond, "0s 1s 2s 3s 4s", 4 * time.Second},
		{2900 * time.Millisecond, "0s 0.5s 1s 1.5s 2s 2.5s 3s", 3 * time.Second},
		{1500 * time.Millisecond, "0s 0.5s 1s 1.5s", 1500 * time.Millisecond},
		{450 * time.Millisecond, "0ms 100ms 200ms 300ms 400ms 500ms", 500 * time.Millisecond},
		{0, "0ms 1ms", time.Millisecond},
		{100 * time.Second, "0s 30s 1m 1m 30s 2m", 2 * time.Minute},
		{14 * time.Minute, "0s 5m 10m 15m", 15 * time.Minute},
		{5 * time.Hour, "0s 1h 2h 3h 4h 5h", 5 * time.Hour},
	} {
		ticks, span := axisTicks(tc.total)
		var labels, places []string
		for _, tk := range ticks {
			labels = append(labels, tk.Label)
			places = append(places, tk.At)
		}
		if got := strings.Join(labels, " "); got != tc.want || span != tc.span {
			t.Errorf("axisTicks(%s) = %q over %s, want %q over %s", tc.total, got, span, tc.want, tc.span)
		}
		// Evenly spaced from the left end to the right end.
		n := len(ticks) - 1
		for i, at := range places {
			if want := "at-" + strconv.Itoa(i*200/n); at != want {
				t.Errorf("axisTicks(%s): tick %d at %s, want %s", tc.total, i, at, want)
			}
		}
		if ticks[0].Edge != "first" || ticks[n].Edge != "last" {
			t.Errorf("axisTicks(%s): ends %q %q", tc.total, ticks[0].Edge, ticks[n].Edge)
		}
	}
}

// TestEveryPageParses: the pages' templates are parsed when first
// rendered, so a broken one is found here rather than by the visitor who
// opens it.
func TestEveryPageParses(t *testing.T) {
	New(Config{}).ParseAll()
}
