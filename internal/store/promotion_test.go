package store

import (
	"sync"
	"testing"

	"github.com/batonci/baton/internal/ci"
)

func testPromotionsAndTargets(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	a, b := newSeed(t, db, "a"), newSeed(t, db, "b")

	// Targets: unique per project, lists and secrets round-trip.
	prod := &DeploymentTarget{
		ProjectID: a.project.ID, Name: "production", Description: "the real thing",
		Users: []string{"ada"}, Roles: []string{"admin"}, Branches: []string{"master", "/^release\\/.*$/"},
		Tags: []string{"/^v.*/"}, AllowPRs: true,
		Env:       []SealedEnv{{Name: "TOKEN", Value: "bs1.t"}},
		Files:     []SealedFile{{Path: ".kube/config", Content: "bs1.f"}},
		CreatedAt: at(9, 0, 0), CreatedBy: "ada", UpdatedAt: at(9, 5, 0), UpdatedBy: "grace",
	}
	staging := &DeploymentTarget{ProjectID: a.project.ID, Name: "staging", CreatedBy: "ada", UpdatedBy: "ada"}
	other := &DeploymentTarget{ProjectID: b.project.ID, Name: "production", CreatedBy: "ada", UpdatedBy: "ada"}
	write(t, db, func(tx *Tx) error {
		for _, x := range []*DeploymentTarget{prod, staging, other} {
			if err := tx.CreateTarget(x); err != nil {
				return err
			}
		}
		return nil
	})
	allSet(t, prod)
	err := db.Tx(ctx, func(tx *Tx) error {
		return tx.CreateTarget(&DeploymentTarget{ProjectID: a.project.ID, Name: "staging"})
	})
	wantErr(t, "a target name taken in the project", err, ErrConflict)
	err = db.Tx(ctx, func(tx *Tx) error {
		return tx.CreateTarget(&DeploymentTarget{ProjectID: "nope", Name: "x"})
	})
	if err == nil {
		t.Error("CreateTarget in an unknown project succeeded")
	}
	got, err := db.GetTarget(ctx, a.project.ID, "production")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetTarget", got, prod)
	list, err := db.ListTargets(ctx, a.project.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListTargets", list, []*DeploymentTarget{prod, staging})

	staging.Description, staging.AllowPRs, staging.Users = "pre-production", true, []string{"grace"}
	staging.Env = []SealedEnv{{Name: "K", Value: "bs1.k"}}
	staging.UpdatedAt, staging.UpdatedBy = at(10, 0, 0), "grace"
	write(t, db, func(tx *Tx) error { return tx.UpdateTarget(staging) })
	got, err = db.GetTarget(ctx, a.project.ID, "staging")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "UpdateTarget", got, staging)
	write(t, db, func(tx *Tx) error { return tx.DeleteTarget(a.project.ID, "staging") })
	_, err = db.GetTarget(ctx, a.project.ID, "staging")
	wantErr(t, "GetTarget after delete", err, ErrNotFound)
	err = db.Tx(ctx, func(tx *Tx) error { return tx.DeleteTarget(a.project.ID, "staging") })
	wantErr(t, "DeleteTarget twice", err, ErrNotFound)

	// Promotion runs: manual runs are numbered, the automatic one is
	// recorded once even when two servers race for it.
	auto := &PromotionRun{PipelineID: a.pipeline.ID, ProjectID: a.project.ID, Name: "Production", Auto: true,
		TriggeredBy: "auto", DeploymentTarget: "production", PromotedPipeline: "p2", CreatedAt: at(11, 0, 0)}
	write(t, db, func(tx *Tx) error { return tx.CreatePromotion(auto) })
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			errs[i] = db.Tx(ctx, func(tx *Tx) error {
				return tx.CreatePromotion(&PromotionRun{PipelineID: a.pipeline.ID, ProjectID: a.project.ID, Name: "Production", Auto: true, TriggeredBy: "auto"})
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		wantErr(t, "a second automatic run", err, ErrConflict)
	}
	var manual []*PromotionRun
	for i, by := range []string{"ada", "grace"} {
		m := &PromotionRun{PipelineID: a.pipeline.ID, ProjectID: a.project.ID, Name: "Production", TriggeredBy: by,
			Parameters: map[string]string{"REGION": "eu"}, DeploymentTarget: "production", PromotedPipeline: "p" + by,
			CreatedAt: at(12, i, 0)}
		write(t, db, func(tx *Tx) error {
			if _, err := tx.LockPipeline(a.pipeline.ID); err != nil {
				return err
			}
			return tx.CreatePromotion(m)
		})
		if m.Run != i+1 {
			t.Errorf("manual run %d numbered %d", i+1, m.Run)
		}
		manual = append(manual, m)
	}
	refused := &PromotionRun{PipelineID: a.pipeline.ID, ProjectID: a.project.ID, Name: "Hotfix", Auto: true,
		TriggeredBy: "auto", DeploymentTarget: "production", Refused: "branch develop may not deploy", CreatedAt: at(13, 0, 0)}
	write(t, db, func(tx *Tx) error { return tx.CreatePromotion(refused) })

	runs, err := db.ListPromotions(ctx, a.pipeline.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListPromotions", runs, []*PromotionRun{auto, manual[0], manual[1], refused})
	hist, err := db.TargetHistory(ctx, a.project.ID, "production", 0)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "TargetHistory", hist, []*PromotionRun{refused, manual[1], manual[0], auto})
	hist, err = db.TargetHistory(ctx, b.project.ID, "production", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 0 {
		t.Errorf("another project's history = %+v", hist)
	}

	// A pipeline carries its promotion and target.
	pl := &ci.Pipeline{WorkflowID: a.workflow.ID, ProjectID: a.project.ID, Name: "deploy", State: ci.StatePending,
		PromotionOf: a.pipeline.ID, PromotedBy: "ada", Promotion: "Production", DeploymentTarget: "production"}
	write(t, db, func(tx *Tx) error { return tx.CreatePipeline(pl) })
	gotP, err := db.GetPipeline(ctx, pl.ID)
	if err != nil {
		t.Fatal(err)
	}
	if gotP.Promotion != "Production" || gotP.DeploymentTarget != "production" {
		t.Errorf("pipeline read back = %+v", gotP)
	}
	gotP.DeploymentTarget = "staging"
	write(t, db, func(tx *Tx) error { return tx.UpdatePipeline(gotP) })
	if gotP, _ = db.GetPipeline(ctx, pl.ID); gotP.DeploymentTarget != "staging" {
		t.Errorf("UpdatePipeline lost deployment_target: %+v", gotP)
	}
}
