package store

import (
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testProjects(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	p := &ci.Project{
		Name:          "baton",
		RepoURL:       "https://example.com/baton.git",
		DefaultBranch: "main",
		PipelineFile:  ".semaphore/semaphore.yml",
		Public:        true,
		PollInterval:  90*time.Second + 1500*time.Microsecond, // stored as 90.001s
		WebhookSecret: "s3cret",
		Forge:         "gitea",
		ForgeURL:      "https://gitea.example.com",
		ForgeRepo:     "ada/baton",
		ForgeToken:    "sealed-token",
		CreatedAt:     at(10, 0, 0),

		DeploymentDetailsPublic: true,
	}
	write(t, db, func(tx *Tx) error { return tx.CreateProject(p) })
	allSet(t, p)
	if p.PollInterval != 90001*time.Millisecond {
		t.Errorf("PollInterval normalised to %v, want 1m30.001s", p.PollInterval)
	}
	if want := at(10, 0, 0).Truncate(time.Microsecond); !p.CreatedAt.Equal(want) || p.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt normalised to %v, want %v in UTC", p.CreatedAt, want)
	}

	for _, key := range []string{p.ID, p.Name} {
		got, err := db.GetProject(ctx, key)
		if err != nil {
			t.Fatalf("GetProject(%q): %v", key, err)
		}
		diff(t, "GetProject("+key+")", got, p)
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt read in %v, want UTC", got.CreatedAt.Location())
		}
	}

	// Defaults: an ID (a UUID) and CreatedAt.
	q := &ci.Project{Name: "another"}
	before := time.Now()
	write(t, db, func(tx *Tx) error { return tx.CreateProject(q) })
	if len(q.ID) != 36 || q.CreatedAt.Before(before.Add(-time.Millisecond)) || q.CreatedAt.After(time.Now()) {
		t.Errorf("defaults: ID %q, CreatedAt %v", q.ID, q.CreatedAt)
	}

	ps, err := db.ListProjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListProjects", ps, []*ci.Project{q, p})

	// A name that is another project's ID still finds the project by ID.
	r := &ci.Project{Name: p.ID}
	write(t, db, func(tx *Tx) error { return tx.CreateProject(r) })
	if got, err := db.GetProject(ctx, p.ID); err != nil || got.ID != p.ID {
		t.Errorf("GetProject(ID that is also a name) = %v, %v; want the project with that ID", got, err)
	}

	p.Name, p.RepoURL, p.DefaultBranch, p.PipelineFile = "renamed", "https://example.com/r.git", "trunk", "ci.yml"
	p.Public, p.PollInterval, p.WebhookSecret = false, time.Minute, "other"
	write(t, db, func(tx *Tx) error { return tx.UpdateProject(p) })
	got, err := db.GetProject(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "project after UpdateProject", got, p)

	err = db.Tx(ctx, func(tx *Tx) error { return tx.CreateProject(&ci.Project{Name: "another"}) })
	wantErr(t, "CreateProject with a name taken", err, ErrConflict)
	err = db.Tx(ctx, func(tx *Tx) error { return tx.CreateProject(&ci.Project{ID: p.ID, Name: "fresh"}) })
	wantErr(t, "CreateProject with an ID taken", err, ErrConflict)
	err = db.Tx(ctx, func(tx *Tx) error { p.Name = "another"; return tx.UpdateProject(p) })
	wantErr(t, "UpdateProject to a name taken", err, ErrConflict)
	err = db.Tx(ctx, func(tx *Tx) error { return tx.UpdateProject(&ci.Project{ID: "nope", Name: "x"}) })
	wantErr(t, "UpdateProject of no project", err, ErrNotFound)
	_, err = db.GetProject(ctx, "nope")
	wantErr(t, "GetProject of no project", err, ErrNotFound)

	// Deleting a project deletes what belongs to it.
	s := newSeed(t, db, "doomed")
	job := s.job("j", "linux", 0, at(11, 0, 0))
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateJob(job); err != nil {
			return err
		}
		if err := tx.SetRef(s.project.ID, "refs/heads/main", "abc"); err != nil {
			return err
		}
		if err := tx.RecordDelivery(&Delivery{ProjectID: s.project.ID, Event: "push"}); err != nil {
			return err
		}
		return nil
	})
	var jobIDs []string
	var unfinished int
	write(t, db, func(tx *Tx) (err error) {
		if jobIDs, err = tx.ProjectJobIDs(s.project.ID); err != nil {
			return err
		}
		unfinished, err = tx.UnfinishedPipelines(s.project.ID)
		return err
	})
	if len(jobIDs) != 1 || jobIDs[0] != job.ID || unfinished != 1 {
		t.Errorf("ProjectJobIDs, UnfinishedPipelines = %v, %d; want [%s], 1", jobIDs, unfinished, job.ID)
	}
	write(t, db, func(tx *Tx) (err error) {
		if jobIDs, err = tx.ProjectJobIDs(p.ID); err != nil {
			return err
		}
		unfinished, err = tx.UnfinishedPipelines(p.ID)
		return err
	})
	if len(jobIDs) != 0 || unfinished != 0 {
		t.Errorf("another project's ProjectJobIDs, UnfinishedPipelines = %v, %d; want none", jobIDs, unfinished)
	}
	write(t, db, func(tx *Tx) error { return tx.DeleteProject(s.project.ID) })
	for what, err := range map[string]error{
		"project":  second(db.GetProject(ctx, s.project.ID)),
		"workflow": second(db.GetWorkflow(ctx, s.workflow.ID)),
		"pipeline": second(db.GetPipeline(ctx, s.pipeline.ID)),
		"job":      second(db.GetJob(ctx, job.ID)),
	} {
		wantErr(t, what+" of a deleted project", err, ErrNotFound)
	}
	if refs, err := db.GetRefs(ctx, s.project.ID); err != nil || len(refs) != 0 {
		t.Errorf("refs of a deleted project: %v, %v", refs, err)
	}
	if ds, err := db.ListDeliveries(ctx, s.project.ID, 0); err != nil || len(ds) != 0 {
		t.Errorf("deliveries of a deleted project: %v, %v", ds, err)
	}
	err = db.Tx(ctx, func(tx *Tx) error { return tx.DeleteProject(s.project.ID) })
	wantErr(t, "DeleteProject of no project", err, ErrNotFound)
}

// second returns the error of a two-value call.
func second[T any](_ T, err error) error { return err }
