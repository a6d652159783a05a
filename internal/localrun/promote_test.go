package localrun

import (
	"maps"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/plan"
)

func TestLocalPromotionParams(t *testing.T) {
	decls := []plan.Parameter{
		{Name: "ENV", Required: true, Options: []string{"staging", "production"}},
		{Name: "REGION", Required: true, DefaultValue: "eu"},
		{Name: "NOTE"},
		{Name: "COLOR", Options: []string{"red", "blue"}, DefaultValue: "red"},
	}
	for _, tc := range []struct {
		name  string
		given map[string]string
		want  map[string]string
		err   string
	}{
		{
			name:  "defaults fill what is not given",
			given: map[string]string{"ENV": "staging"},
			want:  map[string]string{"ENV": "staging", "REGION": "eu", "NOTE": "", "COLOR": "red"},
		},
		{
			name:  "given values win",
			given: map[string]string{"ENV": "production", "REGION": "us", "NOTE": "hi", "COLOR": "blue"},
			want:  map[string]string{"ENV": "production", "REGION": "us", "NOTE": "hi", "COLOR": "blue"},
		},
		{
			name:  "an empty value for a required parameter is missing",
			given: map[string]string{"ENV": ""},
			err:   "parameter ENV is required: give it with --param ENV=staging|production",
		},
		{
			name:  "options are enforced",
			given: map[string]string{"ENV": "staging", "COLOR": "green"},
			err:   `parameter COLOR: "green" is not one of its options (red, blue)`,
		},
		{
			name:  "undeclared values are left to the caller",
			given: map[string]string{"ENV": "staging", "OTHER": "x"},
			want:  map[string]string{"ENV": "staging", "REGION": "eu", "NOTE": "", "COLOR": "red"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := promotionParams(decls, tc.given)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
