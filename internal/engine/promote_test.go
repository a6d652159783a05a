package engine_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/store"
)

func TestTargetRefusal(t *testing.T) {
	open := &store.DeploymentTarget{Name: "staging"}
	prod := &store.DeploymentTarget{Name: "production", Users: []string{"auto", "ada"}, Roles: []string{"admin"},
		Branches: []string{"master", `/^release\/.+$/`}, Tags: []string{`/^v[0-9]+/`}}
	writers := &store.DeploymentTarget{Name: "qa", Roles: []string{"write"}, Branches: []string{"develop"}, AllowPRs: true}
	branch := func(b string) *ci.Workflow {
		return &ci.Workflow{RefType: "branch", Branch: b, RefVerified: "refs/heads/" + b}
	}
	tag := &ci.Workflow{RefType: "tag", Tag: "v1.2", RefVerified: "refs/tags/v1.2"}
	// A manual run that named a commit which was not the branch's head
	// (or a workflow from before refs were verified).
	label := &ci.Workflow{RefType: "branch", Branch: "master", SHA: "0123456789abcdef"}
	labelTag := &ci.Workflow{RefType: "tag", Tag: "v1.2", SHA: "0123456789abcdef"}
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
		{"an unverified branch label", prod, label, "carol", "admin", false, "commit 0123456789ab was not verified as the head of branch master"},
		{"an unverified tag label", prod, labelTag, "carol", "admin", false, "was not verified as the head of tag v1.2"},
		{"an unverified label on an open target", open, label, "bob", "write", false, ""},
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

func TestAutoPromotionIsMarkedDueUntilDecided(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		job := "    task:\n      jobs:\n        - name: j\n          commands: [echo hi]\n"
		head := "version: v1.0\nname: %s\nagent:\n  machine:\n    type: s1-test\nblocks:\n  - name: b\n"
		e := newEnvWith(t, dialect, map[string]string{
			pipelineFile: fmt.Sprintf(head, "CI") + job +
				"promotions:\n  - name: Deploy\n    pipeline_file: deploy.yml\n    auto_promote:\n      when: \"result = 'passed'\"\n",
			".semaphore/deploy.yml": fmt.Sprintf(head, "Deploy") + job,
		}, nil)
		ctx := t.Context()
		wf := e.push("main")
		e.runAll("s1-test")
		pipelines := func() []*ci.Pipeline {
			ps, err := e.db.ListPipelines(ctx, wf.ID)
			if err != nil {
				t.Fatal(err)
			}
			return ps
		}
		due := func() []*ci.Pipeline {
			ps, err := e.db.PromotionsDue(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return ps
		}
		var ci0 *ci.Pipeline // the CI pipeline (both have the fake clock's time)
		promoted := 0
		for _, p := range pipelines() {
			switch p.Promotion {
			case "":
				ci0 = p
			case "Deploy":
				promoted++
			}
		}
		if ci0 == nil || promoted != 1 {
			t.Fatalf("pipelines = %v, want CI and its auto-promotion", pipelines())
		}
		if d := due(); len(d) != 0 {
			t.Fatalf("promotions still due after they ran: %v", d)
		}

		// As after a crash between the pipeline's end and its
		// auto-promotions: recheck decides them again, once.
		if err := e.db.Tx(ctx, func(tx *store.Tx) error { return tx.SetPromotionsDue(ci0.ID, true) }); err != nil {
			t.Fatal(err)
		}
		if d := due(); len(d) != 1 || d[0].ID != ci0.ID {
			t.Fatalf("due = %v, want the CI pipeline", d)
		}
		e.eng.Recheck(ctx)
		if ps := pipelines(); len(ps) != 2 {
			t.Errorf("recheck promoted again: %d pipelines", len(ps))
		}
		if d := due(); len(d) != 0 {
			t.Errorf("recheck left promotions due: %v", d)
		}
	})
}

func TestPromoteNeedsOverrideUnlessPassed(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		job := "    task:\n      jobs:\n        - name: j\n          commands: [echo hi]\n"
		head := "version: v1.0\nname: %s\nagent:\n  machine:\n    type: s1-test\nblocks:\n  - name: b\n"
		e := newEnvWith(t, dialect, map[string]string{
			pipelineFile:            fmt.Sprintf(head, "CI") + job + "promotions:\n  - name: Deploy\n    pipeline_file: deploy.yml\n",
			".semaphore/deploy.yml": fmt.Sprintf(head, "Deploy") + job,
		}, nil)
		wf := e.push("main")
		src := e.pipeline(wf)
		req := engine.PromoteRequest{PipelineID: src.ID, Name: "Deploy", By: "ada", Role: "admin"}
		if _, err := e.eng.Promote(t.Context(), req); !errors.Is(err, engine.ErrNotPassed) || !strings.Contains(err.Error(), "is running") {
			t.Fatalf("Promote of a running pipeline = %v, want ErrNotPassed saying it runs", err)
		}
		e.runAll("s1-test", "j")
		if _, err := e.eng.Promote(t.Context(), req); !errors.Is(err, engine.ErrNotPassed) || !strings.Contains(err.Error(), "is failed") {
			t.Fatalf("Promote of a failed pipeline = %v, want ErrNotPassed saying it failed", err)
		}
		req.Override = true
		p, err := e.eng.Promote(t.Context(), req)
		if err != nil || p.Promotion != "Deploy" || p.PromotionOf != src.ID {
			t.Fatalf("Promote with override = %+v, %v", p, err)
		}
	})
}
