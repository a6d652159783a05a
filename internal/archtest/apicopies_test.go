package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// jsonStructsAllowed are the JSON-tagged structs the command line and the
// web pages may define, keyed by file and their JSON field names: formats
// of their own, not the API's. Any other is a copy of a response or a
// request of /api/v1, which belongs in internal/apiv1.
var jsonStructsAllowed = map[string]string{
	"internal/cli/client.go{server,token}": "the CLI's config file, written by baton login",
	"internal/cli/plan.go{event,pipeline}": "baton plan --json: a local plan, never asked of the server",
	"internal/cli/runpromote.go{event,timestamp,pipeline,pipeline_file,result,result_reason,promotions}":        "baton run --json: a local run's event line",
	"internal/cli/runpromote.go{event,timestamp,promotion,pipeline_file,pipeline,deployment_target,parameters}": "baton run --json: a local promotion's event line",
	"internal/cli/validate.go{file,line,column,message,warning}":                                                "baton validate --json: its own documented output (a warning flag, not the API's severity)",
	"internal/web/job.go{job,done,result,started,commands,tail}":                                                "the job page's start-up data for log.js, embedded in the page",
}

// TestNoAPICopiesInCLIOrWeb: the CLI and the web pages decode the API's
// answers into internal/apiv1's types, so a JSON-tagged struct of their
// own is a copy that drifts from the contract. Only the formats listed in
// jsonStructsAllowed, which are not the API's, may have one.
func TestNoAPICopiesInCLIOrWeb(t *testing.T) {
	root := filepath.Join("..", "..")
	seen := map[string]bool{}
	for _, dir := range []string{"internal/cli", "internal/web"} {
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			rel := dir + "/" + filepath.Base(f)
			ast.Inspect(file, func(n ast.Node) bool {
				st, ok := n.(*ast.StructType)
				if !ok {
					return true
				}
				var names []string
				for _, fld := range st.Fields.List {
					if fld.Tag == nil {
						continue
					}
					tag := reflect.StructTag(strings.Trim(fld.Tag.Value, "`"))
					if v, ok := tag.Lookup("json"); ok {
						name, _, _ := strings.Cut(v, ",")
						names = append(names, name)
					}
				}
				if len(names) == 0 {
					return true
				}
				key := rel + "{" + strings.Join(names, ",") + "}"
				seen[key] = true
				if _, ok := jsonStructsAllowed[key]; !ok {
					t.Errorf("%s defines a JSON struct %s: decode the API's answers into internal/apiv1's types (add the type there if it is missing), or, for a format that is not the API's, list it in jsonStructsAllowed with the reason", rel, key)
				}
				return true
			})
		}
	}
	for _, key := range slices.Sorted(maps.Keys(jsonStructsAllowed)) {
		if !seen[key] {
			t.Errorf("jsonStructsAllowed lists %s, which no longer exists: remove it", key)
		}
	}
}
