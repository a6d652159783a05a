package toolbox

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSemContext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := append(serve(t, testScope, "", ""), "SEMAPHORE_PIPELINE_1_ARTEFACT_ID=ppl-a")
	sc := func(args ...string) result { t.Helper(); return tool(t, dir, env, "sem-context", args...) }
	long := strings.Repeat("v", 20_001)

	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"get", "version"}, 1, "", "can't find the key 'version'"},
		{[]string{"get", "version", "--fallback", "0.0.0"}, 0, "0.0.0\n", ""},
		{[]string{"put", "version=1.2.3"}, 0, "", "Key-value pair successfully stored"},
		{[]string{"get", "version"}, 0, "1.2.3\n", ""},
		{[]string{"put", "version=1.2.4"}, 1, "", "already exists"},
		{[]string{"put", "version=1.2.4", "--force"}, 0, "", ""},
		{[]string{"get", "version", "--fallback", "x"}, 0, "1.2.4\n", ""},
		{[]string{"put", "url=https://x.test/?a=b"}, 0, "", ""},
		{[]string{"get", "url"}, 0, "https://x.test/?a=b\n", ""},
		{[]string{"delete", "version"}, 0, "", "deleted"},
		{[]string{"delete", "version"}, 1, "", "does not exist"},
		{[]string{"get", "version"}, 1, "", ""},
		{[]string{"put", "ab=too-short-key"}, 3, "", "between 3 and 256"},
		{[]string{"put", "has space=x"}, 3, "", "invalid key"},
		{[]string{"put", "../escape=x"}, 3, "", "invalid key"},
		{[]string{"put", "empty="}, 3, "", "empty string"},
		{[]string{"put", "big=" + long}, 3, "", "20KB"},
		{[]string{"put", "novalue"}, 3, "", "key=value"},
		{[]string{"get"}, 3, "", ""},
		{[]string{"frob", "key"}, 3, "", "unknown subcommand"},
		{[]string{"get", "missing", "--ignore-failure"}, 0, "", "can't find"},
		{[]string{"put", "ab=x", "--ignore-failure"}, 0, "", ""},
	}
	for _, tt := range tests {
		r := sc(tt.args...)
		if r.code != tt.code || r.stdout != tt.stdout || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("sem-context %q = %d, stdout %q, stderr %q; want %d, %q, containing %q",
				tt.args, r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
		}
	}

	tool(t, dir, []string{"BATON_JOBSVC="}, "sem-context", "get", "url").check(t, 2, "BATON_JOBSVC is not set")
}

func TestSemContextPipelines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	svc := serve(t, testScope, "", "")
	ppl := func(ids ...string) []string {
		env := append([]string{}, svc...)
		for i, id := range ids {
			env = append(env, "SEMAPHORE_PIPELINE_"+string(rune('1'+i))+"_ARTEFACT_ID="+id)
		}
		return env
	}
	parent := ppl("p1")
	promoA := ppl("p1", "pa")
	promoB := ppl("p1", "pb")
	sc := func(env []string, args ...string) result {
		t.Helper()
		return tool(t, dir, env, "sem-context", args...)
	}

	sc(parent, "put", "shared=from-parent").check(t, 0)
	sc(promoA, "put", "mine=from-a").check(t, 0)
	sc(promoA, "put", "shared=override-in-a", "--force").check(t, 0)
	sc(promoB, "delete", "shared").check(t, 0)

	get := func(env []string, key string) string {
		r := sc(env, "get", key, "--fallback", "<none>")
		return strings.TrimSpace(r.stdout)
	}
	got := map[string]string{
		"parent shared": get(parent, "shared"),
		"a shared":      get(promoA, "shared"),
		"a mine":        get(promoA, "mine"),
		"b mine":        get(promoB, "mine"),
		"b shared":      get(promoB, "shared"),
	}
	want := map[string]string{
		"parent shared": "from-parent",
		"a shared":      "override-in-a",
		"a mine":        "from-a",
		"b mine":        "<none>",
		"b shared":      "<none>", // deleted in b only
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values seen by each pipeline (-want +got):\n%s", diff)
	}
	if got := contextIDs([]string{"SEMAPHORE_PIPELINE_2_ARTEFACT_ID=b", "SEMAPHORE_PIPELINE_10_ARTEFACT_ID=c", "SEMAPHORE_PIPELINE_1_ARTEFACT_ID=a"}); !cmp.Equal(got, []string{"c", "b", "a"}) {
		t.Errorf("contextIDs = %q, want c, b, a", got)
	}
	if got := contextIDs(nil); !cmp.Equal(got, []string{"local"}) {
		t.Errorf("contextIDs(nil) = %q", got)
	}
}
