package plan

import (
	"fmt"
	"slices"
	"strings"
)

// ParamError says why a value for a promotion parameter was refused.
type ParamError struct {
	Param *Parameter
	// Value is the refused value; "" when a required value is missing.
	Value string
}

func (e *ParamError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("parameter %s is required", e.Param.Name)
	}
	return fmt.Sprintf("parameter %s must be one of %s, got %q", e.Param.Name, strings.Join(e.Param.Options, ", "), e.Value)
}

// ParamValues applies the rules of promotion parameters (docs/semaphore.md §3.2) to
// the values given for decls and returns every declared parameter's
// value: the given one, else (also when given empty) the default, else
// "". A required parameter needs a value or a default; a non-empty value
// of a parameter with options must be one of them. The first violation
// is a *ParamError. Names decls do not declare are the caller's concern.
func ParamValues(decls []Parameter, given map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(decls))
	for i := range decls {
		d := &decls[i]
		v := given[d.Name]
		if v == "" {
			v = d.DefaultValue
		}
		if v == "" && d.Required {
			return nil, &ParamError{Param: d}
		}
		if v != "" && len(d.Options) > 0 && !slices.Contains(d.Options, v) {
			return nil, &ParamError{Param: d, Value: v}
		}
		out[d.Name] = v
	}
	return out, nil
}
