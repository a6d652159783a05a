package store

import (
	"testing"
)

func testSecrets(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	a, b := newSeed(t, db, "a"), newSeed(t, db, "b")
	org := &Secret{
		Name:        "aws",
		Description: "deploys",
		AllowForks:  true,
		Env:         []SealedEnv{{Name: "AWS_KEY", Value: "bs1.c1"}, {Name: "AWS_REGION", Value: "bs1.c2"}},
		Files:       []SealedFile{{Path: "~/.aws/config", Content: "bs1.c3"}},
		CreatedAt:   at(9, 0, 0),
		CreatedBy:   "ada",
		UpdatedAt:   at(9, 30, 0),
		UpdatedBy:   "grace",
	}
	proj := &Secret{ProjectID: a.project.ID, Name: "aws", Env: []SealedEnv{{Name: "AWS_KEY", Value: "bs1.p1"}}, CreatedBy: "ada", UpdatedBy: "ada"}
	orgOnly := &Secret{Name: "npm", Files: []SealedFile{{Path: ".npmrc", Content: "bs1.n"}}, CreatedAt: at(8, 0, 0), CreatedBy: "ada", UpdatedBy: "ada"}
	write(t, db, func(tx *Tx) error {
		for _, s := range []*Secret{org, proj, orgOnly} {
			if err := tx.CreateSecret(s); err != nil {
				return err
			}
		}
		return nil
	})
	allSet(t, org, "ProjectID", "ProjectIDs")
	allSet(t, proj, "Description", "AllowForks", "Files", "ProjectIDs")
	if proj.ID == "" || proj.CreatedAt.IsZero() || !proj.UpdatedAt.Equal(proj.CreatedAt) {
		t.Errorf("CreateSecret did not fill ID and times: %+v", proj)
	}
	created := at(8, 0, 0)
	normTime(&created)
	if orgOnly.Env != nil || orgOnly.UpdatedAt != created {
		t.Errorf("orgOnly = %+v", orgOnly)
	}

	got, err := db.GetSecret(ctx, "", "aws")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetSecret org", got, org)
	got, err = db.GetSecret(ctx, a.project.ID, "aws")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetSecret project", got, proj)
	_, err = db.GetSecret(ctx, a.project.ID, "npm")
	wantErr(t, "GetSecret does not fall back to the organisation", err, ErrNotFound)
	_, err = db.GetSecret(ctx, b.project.ID, "aws")
	wantErr(t, "GetSecret of another project", err, ErrNotFound)

	list, err := db.ListSecrets(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListSecrets org", list, []*Secret{org, orgOnly})
	list, err = db.ListSecrets(ctx, a.project.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListSecrets project", list, []*Secret{proj})

	for _, tc := range []struct {
		name    string
		project string
		want    map[string]*Secret
	}{
		{"project overrides org", a.project.ID, map[string]*Secret{"aws": proj, "npm": orgOnly}},
		{"org only", b.project.ID, map[string]*Secret{"aws": org, "npm": orgOnly}},
	} {
		got, err := db.LookupSecrets(ctx, tc.project, []string{"aws", "npm", "missing", "aws"})
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "LookupSecrets "+tc.name, got, tc.want)
	}

	wantErr(t, "CreateSecret duplicate org name", db.Tx(ctx, func(tx *Tx) error {
		return tx.CreateSecret(&Secret{Name: "aws"})
	}), ErrConflict)
	wantErr(t, "CreateSecret duplicate project name", db.Tx(ctx, func(tx *Tx) error {
		return tx.CreateSecret(&Secret{ProjectID: a.project.ID, Name: "aws"})
	}), ErrConflict)
	wantErr(t, "CreateSecret unknown project", db.Tx(ctx, func(tx *Tx) error {
		return tx.CreateSecret(&Secret{ProjectID: "nope", Name: "x"})
	}), ErrNotFound)

	org.Description, org.AllowForks = "changed", false
	org.Env = []SealedEnv{{Name: "AWS_KEY", Value: "bs1.new"}}
	org.Files = nil
	org.UpdatedAt, org.UpdatedBy = at(10, 0, 0), "linus"
	write(t, db, func(tx *Tx) error { return tx.UpdateSecret(org) })
	got, _ = db.GetSecret(ctx, "", "aws")
	diff(t, "after UpdateSecret", got, org)
	wantErr(t, "UpdateSecret unknown", db.Tx(ctx, func(tx *Tx) error {
		return tx.UpdateSecret(&Secret{ID: "nope"})
	}), ErrNotFound)

	var all []*Secret
	write(t, db, func(tx *Tx) error {
		var err error
		all, err = tx.AllSecrets()
		return err
	})
	if len(all) != 3 {
		t.Errorf("AllSecrets = %d secrets, want 3", len(all))
	}

	write(t, db, func(tx *Tx) error { return tx.DeleteSecret(a.project.ID, "aws") })
	got, err = db.GetSecret(ctx, "", "aws")
	if err != nil || got.ID != org.ID {
		t.Errorf("deleting the project secret touched the org one: %v", err)
	}
	wantErr(t, "DeleteSecret twice", db.Tx(ctx, func(tx *Tx) error { return tx.DeleteSecret(a.project.ID, "aws") }), ErrNotFound)
	// Deleting a project deletes its secrets.
	write(t, db, func(tx *Tx) error {
		return tx.CreateSecret(&Secret{ProjectID: b.project.ID, Name: "gone"})
	})
	write(t, db, func(tx *Tx) error { return tx.DeleteProject(b.project.ID) })
	if ss, err := db.ListSecrets(ctx, b.project.ID); err != nil || len(ss) != 0 {
		t.Errorf("secrets of a deleted project = %v, %v", ss, err)
	}
}

// testSecretPolicy checks organisation secrets' project policies: a
// project the policy leaves out finds nothing, exactly as if the secret
// did not exist, and a project secret of the same name still wins.
func testSecretPolicy(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	a, b, c := newSeed(t, db, "a"), newSeed(t, db, "b"), newSeed(t, db, "c")
	listed := &Secret{Name: "listed", ProjectAccess: AccessAllowed, ProjectIDs: []string{a.project.ID, c.project.ID}, CreatedBy: "ada", UpdatedBy: "ada"}
	none := &Secret{Name: "none", ProjectAccess: AccessNone, CreatedBy: "ada", UpdatedBy: "ada"}
	all := &Secret{Name: "all", CreatedBy: "ada", UpdatedBy: "ada"}
	own := &Secret{ProjectID: b.project.ID, Name: "none", CreatedBy: "ada", UpdatedBy: "ada"}
	write(t, db, func(tx *Tx) error {
		for _, s := range []*Secret{listed, none, all, own} {
			if err := tx.CreateSecret(s); err != nil {
				return err
			}
		}
		return nil
	})
	got, err := db.GetSecret(ctx, "", "listed")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetSecret with a policy", got, listed)
	if all.ProjectAccess != AccessAll {
		t.Errorf("a secret created without a policy has %q, want %q", all.ProjectAccess, AccessAll)
	}
	names := []string{"listed", "none", "all"}
	for _, tc := range []struct {
		project string
		want    map[string]*Secret
	}{
		{a.project.ID, map[string]*Secret{"listed": listed, "all": all}},
		{b.project.ID, map[string]*Secret{"none": own, "all": all}},
		{c.project.ID, map[string]*Secret{"listed": listed, "all": all}},
	} {
		got, err := db.LookupSecrets(ctx, tc.project, names)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "LookupSecrets of "+tc.project, got, tc.want)
	}

	// Changing the policy takes effect on the next look-up.
	listed.ProjectAccess, listed.ProjectIDs = AccessAllowed, []string{b.project.ID}
	write(t, db, func(tx *Tx) error { return tx.UpdateSecret(listed) })
	got, _ = db.GetSecret(ctx, "", "listed")
	diff(t, "after UpdateSecret", got, listed)
	for project, want := range map[string]bool{a.project.ID: false, b.project.ID: true} {
		found, err := db.LookupSecrets(ctx, project, []string{"listed"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := found["listed"]; ok != want {
			t.Errorf("LookupSecrets(listed) of %s after the update: found=%t, want %t", project, ok, want)
		}
	}
	listed.ProjectAccess, listed.ProjectIDs = AccessNone, nil
	write(t, db, func(tx *Tx) error { return tx.UpdateSecret(listed) })
	if found, _ := db.LookupSecrets(ctx, b.project.ID, []string{"listed"}); len(found) != 0 {
		t.Errorf("LookupSecrets after the policy became none = %v", found)
	}
	if err := db.Tx(ctx, func(tx *Tx) error {
		return tx.CreateSecret(&Secret{Name: "bad", ProjectAccess: "some"})
	}); err == nil {
		t.Error("CreateSecret with an unknown policy succeeded")
	}
}
