package store

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testLibraries(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	l := &Library{Name: "scripts", RepoURL: "https://git.test/org/scripts.git", Branch: "main", Token: "sealed",
		CreatedAt: at(10, 0, 0), CreatedBy: "admin", UpdatedAt: at(10, 0, 0), UpdatedBy: "admin"}
	write(t, db, func(tx *Tx) error { return tx.CreateLibrary(l) })
	got, err := db.GetLibrary(ctx, "scripts")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(l, got); diff != "" {
		t.Errorf("GetLibrary (-want +got):\n%s", diff)
	}
	err = db.Tx(ctx, func(tx *Tx) error { return tx.CreateLibrary(&Library{Name: "scripts"}) })
	wantErr(t, "same name", err, ErrConflict)
	l.Branch, l.Token, l.UpdatedBy, l.UpdatedAt = "release", "", "root", at(11, 0, 0)
	l.RepoURL, l.SSHKey, l.SSHPublicKey, l.KnownHosts = "ssh://git@git.test/org/scripts.git", "sealed-key", "ssh-ed25519 AAAA c", "git.test ssh-ed25519 AAAA\n"
	write(t, db, func(tx *Tx) error { return tx.UpdateLibrary(l) })
	if got, _ := db.GetLibraryByID(ctx, l.ID); !cmp.Equal(l, got) {
		t.Errorf("after update: %+v, want %+v", got, l)
	}
	write(t, db, func(tx *Tx) error { return tx.CreateLibrary(&Library{Name: "other", RepoURL: "x", Branch: "main"}) })
	all, err := db.ListLibraries(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "other" || all[1].Name != "scripts" {
		t.Fatalf("ListLibraries = %v, %v", all, err)
	}

	// A workflow's pins are fixed once.
	s := newSeed(t, db, "p")
	pins := []LibraryPin{{Name: "scripts", LibraryID: l.ID, SHA: "abc"}, {Name: "other", LibraryID: all[0].ID, Error: "unreachable"}}
	write(t, db, func(tx *Tx) error { return tx.SetWorkflowLibraries(s.workflow.ID, pins) })
	write(t, db, func(tx *Tx) error {
		return tx.SetWorkflowLibraries(s.workflow.ID, []LibraryPin{{Name: "scripts", LibraryID: l.ID, SHA: "moved"}})
	})
	gotPins, err := db.WorkflowLibraries(ctx, s.workflow.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]LibraryPin{pins[1], pins[0]}, gotPins); diff != "" {
		t.Errorf("WorkflowLibraries (-want +got):\n%s", diff)
	}

	// Uses, newest first, only since the given time.
	write(t, db, func(tx *Tx) error {
		return tx.AddLibraryUses([]LibraryUse{
			{PipelineID: s.pipeline.ID, LibraryID: l.ID, Path: "ci/build", SHA: "abc", CreatedAt: at(9, 0, 0)},
			{PipelineID: s.pipeline.ID, LibraryID: l.ID, Path: "ci/test", SHA: "abc", CreatedAt: at(12, 0, 0)},
			{PipelineID: s.pipeline.ID, LibraryID: l.ID, Path: "ci/test", SHA: "abc", CreatedAt: at(12, 0, 0)},
		})
	})
	used, err := db.UsedWorkflowLibraries(ctx, s.workflow.ID)
	if err != nil || len(used) != 1 || used[0] != pins[0] {
		t.Errorf("UsedWorkflowLibraries = %v, %v; want only %v", used, err, pins[0])
	}
	uses, err := db.ListLibraryUses(ctx, l.ID, at(10, 0, 0), 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) != 1 || uses[0].Path != "ci/test" || uses[0].ProjectName != s.project.Name || uses[0].WorkflowID != s.workflow.ID ||
		uses[0].PipelineName != s.pipeline.Name {
		t.Errorf("ListLibraryUses = %+v", uses)
	}
	write(t, db, func(tx *Tx) error { return tx.DeleteLibrary("scripts") })
	if _, err := db.GetLibrary(ctx, "scripts"); !isNotFound(err) {
		t.Errorf("after delete: %v", err)
	}
	if uses, _ := db.ListLibraryUses(ctx, l.ID, at(0, 0, 0), 50); len(uses) != 0 {
		t.Errorf("uses after delete: %v", uses)
	}
	err = db.Tx(ctx, func(tx *Tx) error { return tx.DeleteLibrary("scripts") })
	wantErr(t, "delete again", err, ErrNotFound)
}
