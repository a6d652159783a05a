package jobenv

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/batonci/baton/internal/jobspec"
)

func lookup(vs []jobspec.Var) map[string]string {
	m := map[string]string{}
	for _, v := range vs {
		m[v.Name] = v.Value
	}
	return m
}

func TestSystemGitVariablesPerRefType(t *testing.T) {
	base := Context{JobCreated: time.Unix(1700000000, 0), Git: Git{RepoName: "app", Slug: "acme/app", SHA: "abc"}}
	tests := []struct {
		name   string
		git    func(*Git)
		want   map[string]string
		absent []string
	}{
		{
			name:   "branch",
			git:    func(g *Git) { g.RefType, g.Branch = "branch", "main" },
			want:   map[string]string{"SEMAPHORE_GIT_BRANCH": "main", "SEMAPHORE_GIT_REF": "refs/heads/main", "SEMAPHORE_GIT_REF_TYPE": "branch", "SEMAPHORE_GIT_WORKING_BRANCH": "main", "SEMAPHORE_GIT_DIR": "app"},
			absent: []string{"SEMAPHORE_GIT_TAG_NAME", "SEMAPHORE_GIT_PR_NUMBER"},
		},
		{
			name:   "tag: the branch variable holds the tag's ref",
			git:    func(g *Git) { g.RefType, g.Tag = "tag", "v1.0" },
			want:   map[string]string{"SEMAPHORE_GIT_BRANCH": "refs/tags/v1.0", "SEMAPHORE_GIT_TAG_NAME": "v1.0", "SEMAPHORE_GIT_REF": "refs/tags/v1.0"},
			absent: []string{"SEMAPHORE_GIT_WORKING_BRANCH"},
		},
		{
			name: "pull request: branch is the base, working branch the head",
			git: func(g *Git) {
				g.RefType, g.Branch, g.PRNumber, g.PRBranch, g.PRSHA, g.PRSlug = "pull-request", "main", "7", "feature", "def", "fork/app"
			},
			want: map[string]string{"SEMAPHORE_GIT_BRANCH": "main", "SEMAPHORE_GIT_WORKING_BRANCH": "feature", "SEMAPHORE_GIT_PR_NUMBER": "7", "SEMAPHORE_GIT_PR_SHA": "def", "SEMAPHORE_GIT_PR_SLUG": "fork/app", "SEMAPHORE_GIT_REF": "refs/semaphoreci/abc", "SEMAPHORE_GIT_REF_TYPE": "pull-request"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.git(&c.Git)
			got := lookup(System(c))
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s is set, want absent", k)
				}
			}
			for _, k := range []string{"CI", "SEMAPHORE"} {
				if got[k] != "true" {
					t.Errorf("%s = %q, want true", k, got[k])
				}
			}
			if got["SEMAPHORE_JOB_CREATION_TIME"] != "1700000000" {
				t.Errorf("creation time = %q", got["SEMAPHORE_JOB_CREATION_TIME"])
			}
		})
	}
}

func TestMergeLaterListsWin(t *testing.T) {
	system := []jobspec.Var{{Name: "A", Value: "system"}, {Name: "B", Value: "system"}}
	secrets := []jobspec.Var{{Name: "B", Value: "secret"}, {Name: "C", Value: "secret"}}
	yaml := []jobspec.Var{{Name: "C", Value: "yaml"}, {Name: "D", Value: "yaml"}}
	got := Merge(system, secrets, yaml)
	want := []jobspec.Var{{Name: "A", Value: "system"}, {Name: "B", Value: "secret"}, {Name: "C", Value: "yaml"}, {Name: "D", Value: "yaml"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Merge (-want +got):\n%s", diff)
	}
}

func TestValidNames(t *testing.T) {
	for name, want := range map[string]bool{"PATH": true, "_x1": true, "a_B": true, "1A": false, "": false, "A-B": false, "A B": false, "BASH_FUNC_x": false} {
		if got := Valid(name); got != want {
			t.Errorf("Valid(%q) = %v, want %v", name, got, want)
		}
	}
}
