package engine_test

import (
	"strings"
	"testing"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/store"
)

func TestTargetRefusal(t *testing.T) {
	open := &store.DeploymentTarget{Name: "staging"}
	prod := &store.DeploymentTarget{Name: "production", Users: []string{"auto", "ada"}, Roles: []string{"admin"},
		Branches: []string{"master", `/^release\/.+$/`}, Tags: []string{`/^v[0-9]+/`}}
	writers := &store.DeploymentTarget{Name: "qa", Roles: []string{"write"}, Branches: []string{"develop"}, AllowPRs: true}
	branch := func(b string) *ci.Workflow { return &ci.Workflow{RefType: "branch", Branch: b} }
	tag := &ci.Workflow{RefType: "tag", Tag: "v1.2"}
	pr := &ci.Workflow{RefType: "pull-request", Branch: "master", PR: "7"}
	for _, tc := range []struct {
		name   string
		target *store.DeploymentTarget
		wf     *ci.Workflow
		login  string
		role   string
		auto   bool
		want   string // "" = allowed, else a fragment of the reason
	}{
		{"open target, any writer", open, branch("feature"), "bob", "write", false, ""},
		{"open target, auto", open, branch("feature"), "", "", true, ""},
		{"open target refuses pull requests", open, pr, "bob", "write", false, "pull requests may not deploy to staging"},
		{"listed role", prod, branch("master"), "carol", "admin", false, ""},
		{"listed user", prod, branch("master"), "ada", "write", false, ""},
		{"writer not listed", prod, branch("master"), "bob", "write", false, "user bob may not deploy to production: it allows the users auto, ada and the roles admin"},
		{"auto allowed by the user auto", prod, branch("master"), "", "", true, ""},
		{"auto refused without the user auto", writers, branch("develop"), "", "", true, "an auto-promotion may not deploy to qa"},
		{"role write includes admins", writers, branch("develop"), "carol", "admin", false, ""},
		{"regex branch", prod, branch("release/1.0"), "carol", "admin", false, ""},
		{"regex is anchored by the user", prod, branch("xrelease/"), "carol", "admin", false, "branch xrelease/ may not deploy to production"},
		{"branch not allowed", prod, branch("develop"), "carol", "admin", false, "branch develop may not deploy to production: it allows the branches master, /^release\\/.+$/"},
		{"tag by regex", prod, tag, "carol", "admin", false, ""},
		{"tags blocked when only branches are listed", writers, tag, "bob", "write", false, "tag v1.2 may not deploy to qa: it allows no tags"},
		{"pull requests allowed", writers, pr, "bob", "write", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := engine.TargetRefusal(tc.target, tc.wf, tc.login, tc.role, tc.auto)
			switch {
			case tc.want == "" && got != "":
				t.Errorf("refused: %s", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("reason = %q, want it to contain %q", got, tc.want)
			}
		})
	}
}
