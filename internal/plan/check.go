package plan

import (
	"errors"

	"github.com/batonci/baton/internal/pipeline"
	"github.com/batonci/baton/internal/when"
)

// CheckCondition validates a `when` expression for the pipeline loader: it
// must parse, and may use result/result_reason only where allowResult is
// set (promotions).
func CheckCondition(expr string, allowResult bool) (offset int, msg string, ok bool) {
	e, err := when.Parse(expr)
	if err != nil {
		var se *when.SyntaxError
		if errors.As(err, &se) {
			return se.Offset, se.Msg, false
		}
		return 0, err.Error(), false
	}
	if !allowResult && when.UsesResult(e) {
		return 0, "result and result_reason can only be used in a promotion's auto_promote condition", false
	}
	return 0, "", true
}

// LoadOptions are the pipeline loader options Baton always uses: conditions
// are checked with the when language.
func LoadOptions() pipeline.Options {
	return pipeline.Options{CheckCondition: CheckCondition}
}
