package plan

import (
	"errors"
	"maps"
	"testing"
)

func TestParamValues(t *testing.T) {
	decls := []Parameter{
		{Name: "ENV", Required: true, Options: []string{"staging", "production"}},
		{Name: "REGION", DefaultValue: "eu"},
		{Name: "NOTE"},
	}
	tests := []struct {
		name    string
		given   map[string]string
		want    map[string]string
		missing string // the required parameter reported missing
		refused string // the value refused
	}{
		{"defaults apply", map[string]string{"ENV": "staging"}, map[string]string{"ENV": "staging", "REGION": "eu", "NOTE": ""}, "", ""},
		{"empty takes default", map[string]string{"ENV": "production", "REGION": ""}, map[string]string{"ENV": "production", "REGION": "eu", "NOTE": ""}, "", ""},
		{"given wins", map[string]string{"ENV": "staging", "REGION": "us", "NOTE": "x"}, map[string]string{"ENV": "staging", "REGION": "us", "NOTE": "x"}, "", ""},
		{"required missing", nil, nil, "ENV", ""},
		{"required empty", map[string]string{"ENV": ""}, nil, "ENV", ""},
		{"not an option", map[string]string{"ENV": "dev"}, nil, "", "dev"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParamValues(decls, tc.given)
			var pe *ParamError
			switch {
			case tc.missing != "" || tc.refused != "":
				if !errors.As(err, &pe) || pe.Param.Name != "ENV" || pe.Value != tc.refused {
					t.Fatalf("err = %v, want a ParamError for ENV with value %q", err, tc.refused)
				}
			case err != nil:
				t.Fatal(err)
			case !maps.Equal(got, tc.want):
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
