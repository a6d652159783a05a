package vault_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

func newKey(t *testing.T) *secret.Key {
	t.Helper()
	k, _, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func env(pairs ...string) []vault.EnvVar {
	var out []vault.EnvVar
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, vault.EnvVar{Name: pairs[i], Value: secret.NewValue(pairs[i+1])})
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestVault(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := t.Context()
		db := enginetest.OpenNew(t, dialect)
		proj := enginetest.CreateProject(t, db, "demo", t.TempDir())
		key := newKey(t)
		v, err := vault.New(ctx, vault.Config{Store: db, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		org, err := v.Create(ctx, "", "aws", vault.Change{
			Description: ptr("deploy credentials"),
			Env:         env("AWS_KEY", "org-key-value", "AWS_REGION", "eu-west-1"),
			Files:       []vault.File{{Path: "~/.aws/config", Content: secret.NewValue("[default]\nregion=eu\n")}},
		}, "ada")
		if err != nil {
			t.Fatal(err)
		}
		want := &vault.Meta{ID: org.ID, Name: "aws", Description: "deploy credentials", ProjectAccess: "all",
			EnvVars: []string{"AWS_KEY", "AWS_REGION"}, Files: []string{"~/.aws/config"},
			CreatedAt: org.CreatedAt, CreatedBy: "ada", UpdatedAt: org.UpdatedAt, UpdatedBy: "ada"}
		if d := cmp.Diff(want, org); d != "" {
			t.Errorf("Create (-want +got):\n%s", d)
		}
		if _, err := v.Create(ctx, proj.ID, "aws", vault.Change{Env: env("AWS_KEY", "project-key-value")}, "ada"); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Create(ctx, "", "aws", vault.Change{Env: env("X", "yyyy")}, "ada"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("Create duplicate = %v, want ErrConflict", err)
		}

		// Nothing stored shows a value.
		raw, _ := db.LookupSecrets(ctx, proj.ID, []string{"aws"})
		if s := raw["aws"]; strings.Contains(s.Env[0].Value, "project-key-value") || !strings.HasPrefix(s.Env[0].Value, "bs1.") {
			t.Errorf("stored value = %q", s.Env[0].Value)
		}

		// Project overrides organisation; order follows the names.
		e, files, err := v.Resolve(ctx, proj.ID, []string{"aws"})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]jobspec.Var{{Name: "AWS_KEY", Value: "project-key-value"}}, e); d != "" || len(files) != 0 {
			t.Errorf("Resolve project (-want +got):\n%s\nfiles %v", d, files)
		}
		e, files, err = v.Resolve(ctx, "other-project", []string{"aws"})
		if err != nil {
			t.Fatal(err)
		}
		if len(e) != 2 || e[0].Value != "org-key-value" || len(files) != 1 || string(files[0].Content) != "[default]\nregion=eu\n" {
			t.Errorf("Resolve org = %v, %v", e, files)
		}
		if _, _, err := v.Resolve(ctx, proj.ID, []string{"aws", "nope"}); err == nil || err.Error() != `secret "nope" not found` {
			t.Errorf("Resolve missing = %v", err)
		}

		// Update: replace, add, remove; values stay write-only.
		m, err := v.Update(ctx, "", "aws", vault.Change{
			AllowForks: ptr(true),
			Env:        env("AWS_KEY", "rotated-key-value", "NEW", "new-value"),
			RemoveEnv:  []string{"AWS_REGION"},
		}, "grace")
		if err != nil {
			t.Fatal(err)
		}
		if !m.AllowForks || !slicesEqual(m.EnvVars, []string{"AWS_KEY", "NEW"}) || m.UpdatedBy != "grace" || m.CreatedBy != "ada" {
			t.Errorf("Update = %+v", m)
		}
		e, _, _ = v.Resolve(ctx, "other-project", []string{"aws"})
		if d := cmp.Diff([]jobspec.Var{{Name: "AWS_KEY", Value: "rotated-key-value"}, {Name: "NEW", Value: "new-value"}}, e); d != "" {
			t.Errorf("Resolve after Update (-want +got):\n%s", d)
		}
		allowed, err := v.ForkAllowed(ctx, proj.ID, []string{"aws"})
		if err != nil || allowed["aws"] {
			t.Errorf("ForkAllowed(project aws) = %v, %v; the project secret does not allow forks", allowed, err)
		}
		allowed, err = v.ForkAllowed(ctx, "other", []string{"aws"})
		if err != nil || !allowed["aws"] {
			t.Errorf("ForkAllowed(org aws) = %v, %v", allowed, err)
		}

		for _, tc := range []struct {
			name string
			ch   vault.Change
		}{
			{"empty", vault.Change{}},
			{"bad env name", vault.Change{Env: env("1BAD", "value")}},
			{"duplicate env", vault.Change{Env: env("A", "value", "A", "other")}},
			{"directory path", vault.Change{Files: []vault.File{{Path: "dir/"}}}},
		} {
			if _, err := v.Create(ctx, "", "invalid", tc.ch, "ada"); !errors.Is(err, vault.ErrInvalid) {
				t.Errorf("Create %s = %v, want ErrInvalid", tc.name, err)
			}
		}
		if _, err := v.Create(ctx, "", "a/b", vault.Change{Env: env("A", "value")}, "ada"); !errors.Is(err, vault.ErrInvalid) {
			t.Errorf("Create with a slash in the name = %v", err)
		}
		if _, err := v.Update(ctx, "", "aws", vault.Change{RemoveEnv: []string{"NOPE"}}, "ada"); !errors.Is(err, vault.ErrInvalid) {
			t.Errorf("remove a missing variable = %v", err)
		}
		if _, err := v.Update(ctx, "", "missing", vault.Change{}, "ada"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Update missing = %v", err)
		}

		// A ciphertext copied to another variable or secret does not open.
		write := func(fn func(tx *store.Tx) error) {
			t.Helper()
			if err := db.Tx(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		write(func(tx *store.Tx) error {
			o, _ := tx.GetSecret("", "aws")
			p, _ := tx.GetSecret(proj.ID, "aws")
			p.Env[0].Value = o.Env[0].Value // same variable name, other secret
			return tx.UpdateSecret(p)
		})
		if _, _, err := v.Resolve(ctx, proj.ID, []string{"aws"}); !errors.Is(err, secret.ErrCorrupt) {
			t.Errorf("Resolve of a swapped ciphertext = %v, want ErrCorrupt", err)
		}
		write(func(tx *store.Tx) error { return tx.DeleteSecret(proj.ID, "aws") })
		write(func(tx *store.Tx) error {
			o, _ := tx.GetSecret("", "aws")
			o.Env[0].Value, o.Env[1].Value = o.Env[1].Value, o.Env[0].Value
			return tx.UpdateSecret(o)
		})
		if _, _, err := v.Resolve(ctx, proj.ID, []string{"aws"}); !errors.Is(err, secret.ErrCorrupt) {
			t.Errorf("Resolve of swapped variables = %v, want ErrCorrupt", err)
		}
		if err := v.Delete(ctx, "", "aws"); err != nil {
			t.Fatal(err)
		}
		if err := v.Delete(ctx, "", "aws"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Delete twice = %v", err)
		}
	})
}

func slicesEqual(a, b []string) bool { return cmp.Equal(a, b) }

func TestKeyCheckAndRotation(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := t.Context()
		db := enginetest.OpenNew(t, dialect)
		old, next := newKey(t), newKey(t)
		v, err := vault.New(ctx, vault.Config{Store: db, Key: old})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"a", "b"} {
			if _, err := v.Create(ctx, "", n, vault.Change{Env: env("V", "value-of-"+n), Files: []vault.File{{Path: "f", Content: secret.NewValue("file-" + n)}}}, "ada"); err != nil {
				t.Fatal(err)
			}
		}
		// Another key is refused while secrets exist.
		if _, err := vault.New(ctx, vault.Config{Store: db, Key: next}); err == nil || !strings.Contains(err.Error(), "not the one") {
			t.Fatalf("New with another key = %v", err)
		}
		// A failed rotation (wrong old key) changes nothing.
		if _, err := vault.Rotate(ctx, db, newKey(t), next); err == nil {
			t.Fatal("Rotate with a wrong old key: no error")
		}
		if _, _, err := v.Resolve(ctx, "", []string{"a"}); err != nil {
			t.Fatalf("after a failed rotation: %v", err)
		}
		n, err := vault.Rotate(ctx, db, old, next)
		if err != nil || n != 2 {
			t.Fatalf("Rotate = %d, %v", n, err)
		}
		// The old key is refused now; the new one opens everything.
		if _, err := vault.New(ctx, vault.Config{Store: db, Key: old}); err == nil {
			t.Errorf("New with the old key after rotation: no error")
		}
		if _, _, err := v.Resolve(ctx, "", []string{"a"}); !errors.Is(err, secret.ErrWrongKey) {
			t.Errorf("a vault still holding the old key = %v, want ErrWrongKey", err)
		}
		v2, err := vault.New(ctx, vault.Config{Store: db, Key: next})
		if err != nil {
			t.Fatal(err)
		}
		e, f, err := v2.Resolve(ctx, "", []string{"b", "a"})
		if err != nil || e[0].Value != "value-of-b" || e[1].Value != "value-of-a" || string(f[1].Content) != "file-a" {
			t.Errorf("Resolve after rotation = %v, %v, %v", e, f, err)
		}
		all, _ := db.ListSecrets(ctx, "")
		for _, s := range all {
			for _, x := range append([]string{s.Env[0].Value}, s.Files[0].Content) {
				if id, _ := secret.KeyIDOf(x); id != next.ID() {
					t.Errorf("secret %s holds a value under key %s after rotation", s.Name, id)
				}
			}
		}
		// Running the same rotation again (say the key file was not
		// replaced) is harmless.
		if _, err := vault.Rotate(ctx, db, old, next); err != nil {
			t.Errorf("Rotate again: %v", err)
		}
		// With no secrets left, a new key is adopted.
		for _, n := range []string{"a", "b"} {
			v2.Delete(ctx, "", n)
		}
		if _, err := vault.New(ctx, vault.Config{Store: db, Key: old}); err != nil {
			t.Errorf("New with another key and no secrets: %v", err)
		}
	})
}

func TestShortValues(t *testing.T) {
	got := vault.ShortValues(vault.Change{
		Env:   env("SHORT", "abc", "EMPTY", "", "LONG", "abcd"),
		Files: []vault.File{{Path: "f", Content: secret.NewValue("x")}},
	})
	if len(got) != 2 || !strings.Contains(got[0], "SHORT") || !strings.Contains(got[1], "f") {
		t.Errorf("ShortValues = %q", got)
	}
}
