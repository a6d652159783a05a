package cli

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/editdist"
	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/localrun"
	"github.com/batonci/baton/internal/plan"
)

// This file is the local side of promotions (docs/semaphore.md §1.8, §3): after a
// pipeline, `baton run` says which promotions would start automatically for
// the event and which are manual; with --promote it runs a chain of
// promotions from the same working tree.

// runStage is one pipeline of a local run: the initial pipeline, then one
// per --promote, each a promotion of the one before.
type runStage struct {
	// promotion is nil for the initial pipeline.
	promotion *plan.Promotion
	params    map[string]string
	graph     *plan.Graph
	input     plan.Input
	// chain names the promotions that led to this pipeline.
	chain []string
}

// runParamFlags parses --param KEY=VALUE flags.
func runParamFlags(flags []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range flags {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !jobenv.Valid(k) {
			return nil, fmt.Errorf("--param %q: want NAME=VALUE with a valid variable name", kv)
		}
		out[k] = v
	}
	return out, nil
}

// planPromotionChain compiles the initial pipeline's chain of promotions: names[0]
// is a promotion of the initial pipeline, names[1] a promotion of the
// pipeline names[0] runs, and so on. Every file is read and compiled, and
// every parameter checked, before anything runs, so a typo costs nothing.
// The given --param values go to every promotion of the chain that
// declares them; one that none declares is an error.
func planPromotionChain(lp *localrun.Plan, names []string, given map[string]string) ([]*runStage, error) {
	stages := []*runStage{{params: lp.Input.Params, graph: lp.Graph, input: lp.Input}}
	declared := map[string]bool{}
	for _, name := range names {
		prev := stages[len(stages)-1]
		promo, err := findLocalPromotion(prev.graph, name)
		if err != nil {
			return nil, err
		}
		for _, d := range promo.Parameters {
			declared[d.Name] = true
		}
		params, err := localPromotionParams(promo.Parameters, given)
		if err != nil {
			return nil, fmt.Errorf("promotion %q: %w", promo.Name, err)
		}
		g, in, err := lp.CompileFile(promo.PipelineFile, params)
		if err != nil {
			return nil, fmt.Errorf("promotion %q: %w", promo.Name, err)
		}
		chain := append(append([]string{}, prev.chain...), promo.Name)
		stages = append(stages, &runStage{promotion: promo, params: params, graph: g, input: in, chain: chain})
	}
	var unknown []string
	for k := range given {
		if !declared[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		if len(names) == 0 {
			return nil, fmt.Errorf("--param %s: parameters belong to a promotion; name it with --promote NAME", unknown[0])
		}
		msg := fmt.Sprintf("--param %s: no promotion in %s declares this parameter", unknown[0], quoteList(names))
		if s := editdist.Nearest(unknown[0], slices.Sorted(maps.Keys(declared))); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return nil, fmt.Errorf("%s", msg)
	}
	return stages, nil
}

// findLocalPromotion looks a promotion up by name among the promotions of
// g.
func findLocalPromotion(g *plan.Graph, name string) (*plan.Promotion, error) {
	var names []string
	for _, p := range g.Promotions {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	where := fmt.Sprintf("pipeline %q (%s)", g.Name, g.File)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s has no promotions, so it cannot promote %q", where, name)
	}
	msg := fmt.Sprintf("%s has no promotion %q", where, name)
	if s := editdist.Nearest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return nil, fmt.Errorf("%s (its promotions: %s)", msg, strings.Join(names, ", "))
}

// localPromotionParams checks the values given for a manual promotion
// against the promotion's declarations (docs/semaphore.md §3.2) and returns the values
// its pipeline gets: a parameter without a value (or with an empty one)
// takes its default_value; a required one without either is an error, an
// optional one is empty; a value must be one of the options when there are
// any. Values for parameters the promotion does not declare are ignored
// here (see planPromotionChain).
func localPromotionParams(decls []plan.Parameter, given map[string]string) (map[string]string, error) {
	out, err := plan.ParamValues(decls, given)
	var pe *plan.ParamError
	switch {
	case errors.As(err, &pe) && pe.Value == "":
		d := pe.Param
		what := d.Name
		if d.Description != "" {
			what += " (" + d.Description + ")"
		}
		hint := "VALUE"
		if len(d.Options) > 0 {
			hint = strings.Join(d.Options, "|")
		}
		return nil, fmt.Errorf("parameter %s is required: give it with --param %s=%s", what, d.Name, hint)
	case errors.As(err, &pe):
		return nil, fmt.Errorf("parameter %s: %q is not one of its options (%s)", pe.Param.Name, pe.Value, strings.Join(pe.Param.Options, ", "))
	}
	return out, err
}

// localPromotion is what `baton run` reports about one promotion of a
// pipeline that finished.
type localPromotion struct {
	Name             string `json:"name"`
	PipelineFile     string `json:"pipeline_file"`
	DeploymentTarget string `json:"deployment_target,omitempty"`
	// Auto is true when the promotion has an auto_promote condition (or
	// legacy auto_promote_on rules); Condition shows it.
	Auto      bool   `json:"auto"`
	Condition string `json:"condition,omitempty"`
	// WouldRun is true when the server would start it automatically after
	// this pipeline, for this event and result.
	WouldRun bool `json:"would_run"`
	// Error says why the condition could not be evaluated.
	Error string `json:"error,omitempty"`
	// chain is the --promote chain that leads to it.
	chain []string
}

// localPromotionFacts evaluates the auto-promotion conditions of st's pipeline
// for the event it ran for and its result.
func localPromotionFacts(st *runStage, result ci.Result, reason ci.Reason) []localPromotion {
	out := make([]localPromotion, 0, len(st.graph.Promotions))
	for _, p := range st.graph.Promotions {
		f := localPromotion{Name: p.Name, PipelineFile: p.PipelineFile, DeploymentTarget: p.DeploymentTarget,
			chain: append(append([]string{}, st.chain...), p.Name)}
		switch {
		case p.Condition != "":
			f.Auto, f.Condition = true, p.Condition
		case len(p.Legacy) > 0:
			f.Auto, f.Condition = true, legacyRulesText(p.Legacy)
		}
		if f.Auto {
			// One promotion at a time, so a bad condition spoils only its own.
			fired, err := plan.AutoPromotions(&plan.Graph{Promotions: []*plan.Promotion{p}}, st.input, result, reason)
			if err != nil {
				f.Error = err.Error()
			}
			f.WouldRun = len(fired) > 0
		}
		out = append(out, f)
	}
	return out
}

// legacyRulesText renders auto_promote_on rules for humans.
func legacyRulesText(rules []plan.LegacyRule) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		s := "result " + r.Result
		if r.ResultReason != "" {
			s += ", reason " + r.ResultReason
		}
		if len(r.Branch) > 0 {
			s += ", branch " + strings.Join(r.Branch, " or ")
		}
		parts[i] = s
	}
	return "auto_promote_on: " + strings.Join(parts, "; ")
}

// printLocalPromotions writes the promotions of a finished pipeline for the
// terminal.
func printLocalPromotions(w io.Writer, facts []localPromotion) {
	if len(facts) == 0 {
		return
	}
	fmt.Fprintln(w, "\nPromotions:")
	for _, f := range facts {
		line := fmt.Sprintf("  %s → %s", f.Name, f.PipelineFile)
		if f.DeploymentTarget != "" {
			line += fmt.Sprintf(" (target %s)", f.DeploymentTarget)
		}
		switch {
		case f.Error != "":
			line += fmt.Sprintf(": auto (%s): cannot evaluate: %s", f.Condition, f.Error)
		case f.WouldRun:
			line += fmt.Sprintf(": auto (%s): would run now", f.Condition)
		case f.Auto:
			line += fmt.Sprintf(": auto (%s): would not run for this run", f.Condition)
		default:
			line += ": manual: baton run"
			for _, n := range f.chain {
				line += " --promote " + promoArg(n)
			}
		}
		fmt.Fprintln(w, line)
	}
}

// localPromotionsEvent is the --json line that follows a pipeline's
// pipeline_finished event.
type localPromotionsEvent struct {
	Kind         string           `json:"event"`
	Timestamp    ci.Timestamp     `json:"timestamp"`
	Pipeline     string           `json:"pipeline"`
	PipelineFile string           `json:"pipeline_file"`
	Result       ci.Result        `json:"result"`
	Reason       ci.Reason        `json:"result_reason,omitempty"`
	Promotions   []localPromotion `json:"promotions"`
}

// localPromotionStartedEvent is the --json line before a promoted pipeline's
// events.
type localPromotionStartedEvent struct {
	Kind             string            `json:"event"`
	Timestamp        ci.Timestamp      `json:"timestamp"`
	Promotion        string            `json:"promotion"`
	PipelineFile     string            `json:"pipeline_file"`
	Pipeline         string            `json:"pipeline"`
	DeploymentTarget string            `json:"deployment_target,omitempty"`
	Parameters       map[string]string `json:"parameters,omitempty"`
}

// write encodes one JSON line that is not a job event.
func (r *jsonRenderer) write(v any) {
	r.enc.Encode(v)
	r.w.Flush()
}

// runParamText renders parameter values as NAME=VALUE, sorted.
func runParamText(params map[string]string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		names[i] = k + "=" + params[k]
	}
	return strings.Join(names, " ")
}

// promoArg quotes s for a shell command line when it needs it.
func promoArg(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
