// Package schedule runs projects' pipelines at the times of cron
// expressions (Semaphore's tasks): it parses a five-field cron expression
// read in a time zone, checks a schedule's declared parameters and the
// values a run gives them, and claims and runs due ticks, once per tick
// however many servers share the database.
package schedule

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/batonci/baton/internal/ci"
)

// ErrInvalid marks a schedule or a run refused for its input: a bad cron
// expression, time zone, name or parameter.
var ErrInvalid = errors.New("invalid schedule")

// Spec is a parsed cron expression in its time zone.
type Spec struct {
	sched *cron.SpecSchedule
}

// parser reads the five standard fields (minute, hour, day of month,
// month, day of week), with names (JAN, MON), ranges, lists and steps; no
// seconds and no @descriptors, as on Semaphore.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Parse parses a cron expression of five fields read in the IANA time
// zone tz ("" is UTC). Errors name the expression or the zone and wrap
// ErrInvalid. An expression that never fires (30 February) is refused.
func Parse(expr, tz string) (*Spec, error) {
	loc, err := Location(tz)
	if err != nil {
		return nil, err
	}
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "@") || strings.Contains(expr, "TZ=") {
		return nil, fmt.Errorf("%w: cron expression %q: want five fields (minute hour day-of-month month day-of-week); give the time zone apart", ErrInvalid, expr)
	}
	s, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("%w: cron expression %q: %v", ErrInvalid, expr, err)
	}
	spec := s.(*cron.SpecSchedule)
	spec.Location = loc
	sp := &Spec{sched: spec}
	if sp.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("%w: cron expression %q never runs", ErrInvalid, expr)
	}
	return sp, nil
}

// Location loads an IANA time zone; "" is UTC.
func Location(tz string) (*time.Location, error) {
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	if tz == "Local" || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
		return nil, fmt.Errorf("%w: unknown time zone %q", ErrInvalid, tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("%w: unknown time zone %q (want an IANA name such as Europe/Berlin)", ErrInvalid, tz)
	}
	return loc, nil
}

// Next returns the first time the expression fires strictly after t, in
// UTC; the zero time when it never does.
func (s *Spec) Next(t time.Time) time.Time {
	n := s.sched.Next(t)
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// nameRE is what a schedule's and a parameter's name may be.
// Compiled on first use: a counted repetition compiles to thousands of
// allocations, which every baton process (a job supervisor, a toolbox
// command) would otherwise pay when it starts.
var (
	nameRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`) })
	paramRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,99}$`) })
)

// Check validates a schedule as created or updated: its name, cron
// expression, time zone, branch and declared parameters. It does not
// look at the repository (the branch's existence is the caller's).
func Check(s *ci.Schedule) (*Spec, error) {
	switch {
	case !nameRE().MatchString(s.Name):
		return nil, fmt.Errorf("%w: name %q: use letters, digits, '.', '_' and '-' (at most 100)", ErrInvalid, s.Name)
	case strings.TrimSpace(s.Branch) == "":
		return nil, fmt.Errorf("%w: branch is required", ErrInvalid)
	case strings.ContainsAny(s.Branch, " \t\n~^:?*[\\") || strings.HasPrefix(s.Branch, "-") || strings.Contains(s.Branch, ".."):
		return nil, fmt.Errorf("%w: branch %q is not a valid branch name", ErrInvalid, s.Branch)
	}
	spec, err := Parse(s.Cron, s.Timezone)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, p := range s.Parameters {
		if !paramRE().MatchString(p.Name) {
			return nil, fmt.Errorf("%w: parameter name %q: use letters, digits and '_', not starting with a digit", ErrInvalid, p.Name)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%w: parameter %s is declared twice", ErrInvalid, p.Name)
		}
		seen[p.Name] = true
		if p.Required && p.DefaultValue == "" {
			return nil, fmt.Errorf("%w: parameter %s is required but has no default value, which its scheduled runs need", ErrInvalid, p.Name)
		}
		if p.DefaultValue != "" && len(p.Options) > 0 && !slices.Contains(p.Options, p.DefaultValue) {
			return nil, fmt.Errorf("%w: parameter %s: default value %q is not one of its options (%s)", ErrInvalid, p.Name, p.DefaultValue, strings.Join(p.Options, ", "))
		}
	}
	return spec, nil
}

// Values checks the values given for a run of a schedule against its
// declared parameters and returns every declared parameter's value: the
// given one, else (also when given empty) the default, else "". A name
// the schedule does not declare, a required parameter without a value or
// default, and a value outside the options are refused with an error
// naming the parameter (wrapping ErrInvalid).
func Values(decls []ci.Parameter, given map[string]string) (map[string]string, error) {
	declared := map[string]*ci.Parameter{}
	var names []string
	for i := range decls {
		declared[decls[i].Name] = &decls[i]
		names = append(names, decls[i].Name)
	}
	for _, n := range slices.Sorted(maps.Keys(given)) {
		if declared[n] == nil {
			if len(names) == 0 {
				return nil, fmt.Errorf("%w: parameter %s is not declared: the schedule declares no parameters", ErrInvalid, n)
			}
			return nil, fmt.Errorf("%w: parameter %s is not declared (the schedule declares %s)", ErrInvalid, n, strings.Join(names, ", "))
		}
	}
	out := make(map[string]string, len(decls))
	for _, d := range decls {
		v := given[d.Name]
		if v == "" {
			v = d.DefaultValue
		}
		if v == "" && d.Required {
			return nil, fmt.Errorf("%w: parameter %s is required", ErrInvalid, d.Name)
		}
		if v != "" && len(d.Options) > 0 && !slices.Contains(d.Options, v) {
			return nil, fmt.Errorf("%w: parameter %s must be one of %s, got %q", ErrInvalid, d.Name, strings.Join(d.Options, ", "), v)
		}
		out[d.Name] = v
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
