package localrun

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/editdist"
	"github.com/batonci/baton/internal/plan"
)

// This file is the local side of promotions (docs/semaphore.md §1.8, §3):
// after a pipeline, `baton run` says which promotions would start
// automatically for the event and which are manual; with --promote it
// runs a chain of promotions from the same working tree.

// Stage is one pipeline of a local run: the initial pipeline, then one
// per promotion of the chain, each a promotion of the one before.
type Stage struct {
	// Promotion is nil for the initial pipeline.
	Promotion *plan.Promotion
	Params    map[string]string
	Graph     *plan.Graph
	Input     plan.Input
	// chain names the promotions that led to this pipeline.
	chain []string
}

// Chain compiles the plan's chain of promotions: names[0] is a promotion
// of the planned pipeline, names[1] a promotion of the pipeline names[0]
// runs, and so on; the first stage is the planned pipeline. Every file is
// read and compiled, and every parameter checked, before anything runs,
// so a typo costs nothing. The given values go to every promotion of the
// chain that declares them; one that none declares is an error.
func (p *Plan) Chain(names []string, given map[string]string) ([]*Stage, error) {
	stages := []*Stage{{Params: p.Input.Params, Graph: p.Graph, Input: p.Input}}
	declared := map[string]bool{}
	for _, name := range names {
		prev := stages[len(stages)-1]
		promo, err := findPromotion(prev.Graph, name)
		if err != nil {
			return nil, err
		}
		for _, d := range promo.Parameters {
			declared[d.Name] = true
		}
		params, err := promotionParams(promo.Parameters, given)
		if err != nil {
			return nil, fmt.Errorf("promotion %q: %w", promo.Name, err)
		}
		g, in, err := p.CompileFile(promo.PipelineFile, params)
		if err != nil {
			return nil, fmt.Errorf("promotion %q: %w", promo.Name, err)
		}
		chain := append(append([]string{}, prev.chain...), promo.Name)
		stages = append(stages, &Stage{Promotion: promo, Params: params, Graph: g, Input: in, chain: chain})
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
		return nil, errors.New(msg)
	}
	return stages, nil
}

// findPromotion looks a promotion up by name among the promotions of g.
func findPromotion(g *plan.Graph, name string) (*plan.Promotion, error) {
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

// promotionParams checks the values given for a manual promotion against
// the promotion's declarations (docs/semaphore.md §3.2) and returns the
// values its pipeline gets: a parameter without a value (or with an empty
// one) takes its default_value; a required one without either is an
// error, an optional one is empty; a value must be one of the options
// when there are any. Values for parameters the promotion does not
// declare are ignored here (see Chain).
func promotionParams(decls []plan.Parameter, given map[string]string) (map[string]string, error) {
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

// Promotion is what a local run reports about one promotion of a
// pipeline that finished; its JSON is an element of the "promotions" line
// of `baton run --json`.
type Promotion struct {
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
	// Chain is the chain of promotions that leads to it from the planned
	// pipeline.
	Chain []string `json:"-"`
}

// Promotions evaluates the auto-promotion conditions of the stage's
// pipeline for the event it ran for and its result.
func (st *Stage) Promotions(result ci.Result, reason ci.Reason) []Promotion {
	out := make([]Promotion, 0, len(st.Graph.Promotions))
	for _, p := range st.Graph.Promotions {
		f := Promotion{Name: p.Name, PipelineFile: p.PipelineFile, DeploymentTarget: p.DeploymentTarget,
			Chain: append(append([]string{}, st.chain...), p.Name)}
		switch {
		case p.Condition != "":
			f.Auto, f.Condition = true, p.Condition
		case len(p.Legacy) > 0:
			f.Auto, f.Condition = true, plan.LegacyRulesText(p.Legacy)
		}
		if f.Auto {
			// One promotion at a time, so a bad condition spoils only its own.
			fired, err := plan.AutoPromotions(&plan.Graph{Promotions: []*plan.Promotion{p}}, st.Input, result, reason)
			if err != nil {
				f.Error = err.Error()
			}
			f.WouldRun = len(fired) > 0
		}
		out = append(out, f)
	}
	return out
}
