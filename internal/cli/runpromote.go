package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/localrun"
)

// This file renders the local side of promotions (docs/semaphore.md §1.8,
// §3): after a pipeline, `baton run` says which promotions would start
// automatically for the event and which are manual (localrun.Promotion).

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

// printLocalPromotions writes the promotions of a finished pipeline for the
// terminal.
func printLocalPromotions(w io.Writer, facts []localrun.Promotion) {
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
			for _, n := range f.Chain {
				line += " --promote " + promoArg(n)
			}
		}
		fmt.Fprintln(w, line)
	}
}

// localPromotionsEvent is the --json line that follows a pipeline's
// pipeline_finished event.
type localPromotionsEvent struct {
	Kind         string               `json:"event"`
	Timestamp    ci.Timestamp         `json:"timestamp"`
	Pipeline     string               `json:"pipeline"`
	PipelineFile string               `json:"pipeline_file"`
	Result       ci.Result            `json:"result"`
	Reason       ci.Reason            `json:"result_reason,omitempty"`
	Promotions   []localrun.Promotion `json:"promotions"`
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
