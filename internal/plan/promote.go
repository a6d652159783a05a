package plan

import (
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/pipeline"
	"github.com/batonci/baton/internal/when"
)

// AutoPromotions returns the promotions of g that fire automatically for a
// pipeline that ended with result and reason (docs/semaphore.md §3.1): auto_promote.when
// evaluated with result/result_reason (change_in defaults to ignoring the
// pipeline file), or any matching legacy auto_promote_on rule.
func AutoPromotions(g *Graph, in Input, result ci.Result, reason ci.Reason) ([]*Promotion, error) {
	c := &compiler{in: in, changes: map[string][]string{}}
	var out []*Promotion
	for _, p := range g.Promotions {
		fire := false
		switch {
		case p.Condition != "":
			v, err := c.eval(&pipeline.Condition{Expr: p.Condition}, "ignore", string(result), string(reason))
			if err != nil {
				return nil, err
			}
			fire = v
		case len(p.Legacy) > 0:
			rules := make([]when.AutoPromoteRule, len(p.Legacy))
			for i, r := range p.Legacy {
				rules[i] = when.AutoPromoteRule{Result: r.Result, ResultReason: r.ResultReason, Branch: r.Branch}
			}
			v, err := when.MatchAutoPromoteOn(rules, c.input(string(result), string(reason)))
			if err != nil {
				return nil, err
			}
			fire = v
		}
		if fire {
			out = append(out, p)
		}
	}
	return out, nil
}
