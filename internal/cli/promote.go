package cli

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/apiv1"
)

// `baton promote` runs a promotion of a pipeline on the server, and
// `baton pipeline promotions` lists a pipeline's promotions and their runs
// (docs/semaphore.md §3).

func promoteCommand() *command {
	var params multiFlag
	var waitDone, override bool
	return apiCommand{
		read: true,
		command: &command{name: "promote", summary: "promote a pipeline (run one of its promotions)",
			usage: "PIPELINE_ID NAME [--param K=V]... [--override] [--wait] [--json]",
			help: `Runs the promotion NAME of a pipeline: a new pipeline in the same workflow,
from the promotion's pipeline_file at the same commit. --param gives the
promotion's parameters (required ones, options and defaults are checked by
the server). A promotion to a deployment target must pass the target's rules
(who, which branch or tag, pull requests); a refusal says why and exits 1.
A pipeline can be promoted again: each promotion creates a new pipeline.
Only a pipeline that passed is promoted, unless --override (one that is
still running or failed is refused with exit 1).
With --wait, waits for the promoted pipeline and exits 0 if it passed, 1 if
not.`},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 2 {
				fmt.Fprintln(o.Err, "baton promote: usage: baton promote PIPELINE_ID NAME [--param K=V]...")
				return ExitUsage
			}
			ps := map[string]string{}
			for _, p := range params {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k == "" {
					fmt.Fprintf(o.Err, "baton promote: --param %q: want NAME=VALUE\n", p)
					return ExitUsage
				}
				ps[k] = v
			}
			var p apiv1.Pipeline
			body := map[string]any{"name": args[1], "parameters": ps, "override": override}
			if err := c.do(ctx, "POST", "/api/v1/pipelines/"+url.PathEscape(args[0])+"/promote", body, &p); err != nil {
				return failAPI(o, "promote", err)
			}
			if waitDone {
				if !asJSON {
					fmt.Fprintf(o.Out, "Promoted %s: pipeline %q (%s) %s%s\n", args[1], p.Name, p.File, p.ID, targetText(&p))
				}
				err := wait(ctx, 100*time.Millisecond, func() (bool, error) {
					if err := c.do(ctx, "GET", "/api/v1/pipelines/"+url.PathEscape(p.ID), nil, &p); err != nil {
						return false, err
					}
					return p.State == apiv1.StateDone, nil
				})
				if err != nil {
					fmt.Fprintf(o.Err, "baton promote: %v\n", err)
					return ExitFailure
				}
			}
			switch {
			case asJSON:
				printJSON(o.Out, p)
			case waitDone:
				fmt.Fprintf(o.Out, "Pipeline %s\n", resultWithReason(p.Result, p.Reason))
			default:
				fmt.Fprintf(o.Out, "Promoted %s: pipeline %q (%s) %s%s\n", args[1], p.Name, p.File, p.ID, targetText(&p))
			}
			if waitDone && p.Result != apiv1.ResultPassed {
				return ExitFailure
			}
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.Var(&params, "param", "parameter `NAME=VALUE`; repeatable")
		fs.BoolVar(&waitDone, "wait", false, "wait for the promoted pipeline to finish")
		fs.BoolVar(&override, "override", false, "promote even if the pipeline is still running or did not pass")
	})
}

func pipelinePromotionsCommand() *command {
	return apiCommand{
		read: true,
		command: &command{name: "pipeline promotions", summary: "list a pipeline's promotions and their runs",
			usage: "PIPELINE_ID [--json]",
			help:  "Lists the promotions a pipeline declares (file, deployment target, automatic or manual, parameters) and each run: who or what promoted, when, the promoted pipeline and its result, or why an auto-promotion was refused."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton pipeline promotions: usage: baton pipeline promotions PIPELINE_ID")
				return ExitUsage
			}
			var vs []apiv1.PromotionView
			if err := c.do(ctx, "GET", "/api/v1/pipelines/"+url.PathEscape(args[0])+"/promotions", nil, &vs); err != nil {
				return failAPI(o, "pipeline promotions", err)
			}
			if asJSON {
				printJSON(o.Out, vs)
				return ExitOK
			}
			printPromotions(o, vs, "")
			return ExitOK
		},
	}.build(nil)
}

// printPromotions prints promotions and their runs, each line prefixed.
func printPromotions(o *IO, vs []apiv1.PromotionView, pre string) {
	if len(vs) == 0 {
		fmt.Fprintf(o.Out, "%sNo promotions.\n", pre)
		return
	}
	for _, v := range vs {
		kind := "manual"
		if v.Auto {
			kind = "automatic"
		}
		target := ""
		if v.DeploymentTarget != "" {
			target = ", deployment target " + v.DeploymentTarget
		}
		fmt.Fprintf(o.Out, "%sPromotion %q → %s (%s%s)\n", pre, v.Name, v.PipelineFile, kind, target)
		for _, p := range v.Parameters {
			var notes []string
			if p.Required {
				notes = append(notes, "required")
			}
			if p.DefaultValue != "" {
				notes = append(notes, "default "+p.DefaultValue)
			}
			if len(p.Options) > 0 {
				notes = append(notes, "one of "+strings.Join(p.Options, "|"))
			}
			fmt.Fprintf(o.Out, "%s  parameter %s", pre, p.Name)
			if len(notes) > 0 {
				fmt.Fprintf(o.Out, " (%s)", strings.Join(notes, ", "))
			}
			if p.Description != "" {
				fmt.Fprintf(o.Out, ": %s", p.Description)
			}
			fmt.Fprintln(o.Out)
		}
		tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
		for _, r := range v.Runs {
			when := r.CreatedAt.Local().Format("2006-01-02 15:04:05")
			if r.Refused != "" {
				fmt.Fprintf(tw, "%s  %s\t%s\t%s\trefused: %s\n", pre, when, r.Trigger, r.PromotedBy, r.Refused)
				continue
			}
			fmt.Fprintf(tw, "%s  %s\t%s\t%s\tpipeline %s\t%s %s%s\n", pre, when, r.Trigger, r.PromotedBy, r.PipelineID, r.State, r.Result, paramText(r.Parameters))
		}
		tw.Flush()
	}
}

func paramText(ps map[string]string) string {
	if len(ps) == 0 {
		return ""
	}
	var kv []string
	for k, v := range ps {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return " (" + strings.Join(kv, " ") + ")"
}

// printPromotedFrom says where a promoted pipeline comes from.
func printPromotedFrom(o *IO, p *apiv1.Pipeline) {
	if p.PromotionOf == "" {
		return
	}
	target := ""
	if p.DeploymentTarget != "" {
		target = ", deploying to " + p.DeploymentTarget
	}
	fmt.Fprintf(o.Out, "  promoted from pipeline %s by %s (promotion %q%s)\n", p.PromotionOf, orDash(p.PromotedBy), p.Promotion, target)
}

func targetText(p *apiv1.Pipeline) string {
	if p.DeploymentTarget == "" {
		return ""
	}
	return " deploying to " + p.DeploymentTarget
}
