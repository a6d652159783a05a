package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func TestNext(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	for _, tc := range []struct {
		expr, tz, after, want string
	}{
		{"0 3 * * *", "", "2026-03-01T02:59:59Z", "2026-03-01T03:00:00Z"},
		{"0 3 * * *", "UTC", "2026-03-01T03:00:00Z", "2026-03-02T03:00:00Z"}, // strictly after
		{"*/15 * * * *", "", "2026-03-01T10:07:00Z", "2026-03-01T10:15:00Z"},
		{"0 9-17/4 * * MON-FRI", "", "2026-03-06T17:30:00Z", "2026-03-09T09:00:00Z"}, // Friday evening to Monday
		{"30 1 1,15 * *", "", "2026-02-02T00:00:00Z", "2026-02-15T01:30:00Z"},
		{"0 0 1 JAN *", "", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		// Day of month and day of week both restricted: either matches (cron's rule).
		{"0 0 13 * FRI", "", "2026-03-01T00:00:00Z", "2026-03-06T00:00:00Z"},
		// 03:00 in Berlin is 02:00 UTC in winter and 01:00 UTC in summer.
		{"0 3 * * *", "Europe/Berlin", "2026-01-10T00:00:00Z", "2026-01-10T02:00:00Z"},
		{"0 3 * * *", "Europe/Berlin", "2026-07-10T00:00:00Z", "2026-07-10T01:00:00Z"},
		// 02:30 does not exist in Berlin on 29 March 2026 (clocks go 02:00 -> 03:00).
		{"30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-30T00:30:00Z"},
		{"0 12 * * *", "America/New_York", "2026-01-10T00:00:00Z", "2026-01-10T17:00:00Z"},
	} {
		spec, err := Parse(tc.expr, tc.tz)
		if err != nil {
			t.Errorf("Parse(%q, %q): %v", tc.expr, tc.tz, err)
			continue
		}
		got := spec.Next(utc(tc.after))
		if !got.Equal(utc(tc.want)) {
			t.Errorf("%q in %q after %s = %s, want %s", tc.expr, tc.tz, tc.after, got.In(berlin), utc(tc.want).In(berlin))
		}
		if got.Location() != time.UTC {
			t.Errorf("Next returned a time in %v, want UTC", got.Location())
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ expr, tz, want string }{
		{"0 3 * *", "", `cron expression "0 3 * *": expected exactly 5 fields`},
		{"0 3 * * * *", "", `cron expression "0 3 * * * *": expected exactly 5 fields`},
		{"61 * * * *", "", `cron expression "61 * * * *": end of range (61) above maximum (59)`},
		{"0 25 * * *", "", `above maximum (23)`},
		{"x * * * *", "", `cron expression "x * * * *"`},
		{"@daily", "", `cron expression "@daily": want five fields`},
		{"CRON_TZ=Europe/Berlin 0 3 * * *", "", `give the time zone apart`},
		{"0 0 30 2 *", "", `cron expression "0 0 30 2 *" never runs`},
		{"0 3 * * *", "Mars/Olympus", `unknown time zone "Mars/Olympus"`},
		{"0 3 * * *", "Local", `unknown time zone "Local"`},
		{"0 3 * * *", "../../etc/passwd", `unknown time zone`},
	} {
		_, err := Parse(tc.expr, tc.tz)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q, %q) = %v, want an ErrInvalid containing %q", tc.expr, tc.tz, err, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	ok := func() *ci.Schedule {
		return &ci.Schedule{Name: "nightly", Cron: "0 3 * * *", Timezone: "Europe/Berlin", Branch: "main",
			Parameters: []ci.Parameter{{Name: "ENV", Required: true, Options: []string{"a", "b"}, DefaultValue: "a"}}}
	}
	if _, err := Check(ok()); err != nil {
		t.Fatalf("Check(valid) = %v", err)
	}
	for _, tc := range []struct {
		change func(*ci.Schedule)
		want   string
	}{
		{func(s *ci.Schedule) { s.Name = "" }, `name ""`},
		{func(s *ci.Schedule) { s.Name = "a/b" }, `name "a/b"`},
		{func(s *ci.Schedule) { s.Branch = "" }, `branch is required`},
		{func(s *ci.Schedule) { s.Branch = "a..b" }, `branch "a..b" is not a valid branch name`},
		{func(s *ci.Schedule) { s.Cron = "bad" }, `cron expression "bad"`},
		{func(s *ci.Schedule) { s.Timezone = "Nowhere/City" }, `unknown time zone "Nowhere/City"`},
		{func(s *ci.Schedule) { s.Parameters[0].Name = "1X" }, `parameter name "1X"`},
		{func(s *ci.Schedule) { s.Parameters = append(s.Parameters, ci.Parameter{Name: "ENV"}) }, `parameter ENV is declared twice`},
		{func(s *ci.Schedule) { s.Parameters[0].DefaultValue = "c" }, `parameter ENV: default value "c" is not one of its options (a, b)`},
		{func(s *ci.Schedule) { s.Parameters[0].DefaultValue = "" }, `parameter ENV is required but has no default value`},
	} {
		s := ok()
		tc.change(s)
		_, err := Check(s)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Check = %v, want an ErrInvalid containing %q", err, tc.want)
		}
	}
}

func TestValues(t *testing.T) {
	decls := []ci.Parameter{
		{Name: "ENV", Required: true, Options: []string{"staging", "prod"}, DefaultValue: "staging"},
		{Name: "VERSION", Required: true},
		{Name: "NOTE", DefaultValue: "none"},
		{Name: "FREE"},
	}
	got, err := Values(decls, map[string]string{"VERSION": "1.2", "ENV": "prod", "NOTE": ""})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ENV": "prod", "VERSION": "1.2", "NOTE": "none", "FREE": ""}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Values[%s] = %q, want %q", k, got[k], v)
		}
	}
	for _, tc := range []struct {
		decls []ci.Parameter
		given map[string]string
		want  string
	}{
		{decls, map[string]string{"VERSION": "1", "COLOR": "red"}, "parameter COLOR is not declared (the schedule declares ENV, VERSION, NOTE, FREE)"},
		{nil, map[string]string{"COLOR": "red"}, "parameter COLOR is not declared: the schedule declares no parameters"},
		{decls, map[string]string{}, "parameter VERSION is required"},
		{decls, map[string]string{"VERSION": "1", "ENV": "dev"}, `parameter ENV must be one of staging, prod, got "dev"`},
	} {
		_, err := Values(tc.decls, tc.given)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Values(%v) = %v, want an ErrInvalid containing %q", tc.given, err, tc.want)
		}
	}
}
