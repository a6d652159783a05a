package vault_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

func TestDeploymentTargets(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := t.Context()
		db := enginetest.OpenNew(t, dialect)
		proj := enginetest.CreateProject(t, db, "demo", t.TempDir())
		old, next := newKey(t), newKey(t)
		v, err := vault.New(ctx, vault.Config{Store: db, Key: old})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			ch   vault.TargetChange
			want string
		}{
			{"bad/name", vault.TargetChange{}, "use letters, digits"},
			{"x", vault.TargetChange{Roles: ptr([]string{"read"})}, `role "read"`},
			{"x", vault.TargetChange{Branches: ptr([]string{"/(/"})}, "not a valid regular expression"},
			{"x", vault.TargetChange{Env: env("1X", "v")}, "not a valid environment variable name"},
		} {
			if _, err := v.CreateTarget(ctx, proj.ID, tc.name, tc.ch, "ada"); !errors.Is(err, vault.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CreateTarget(%s) = %v, want %q", tc.name, err, tc.want)
			}
		}
		m, err := v.CreateTarget(ctx, proj.ID, "prod", vault.TargetChange{
			Users: ptr([]string{"ada", "ada", " "}), Roles: ptr([]string{"admin"}), Branches: ptr([]string{"main", "/^rel/"}),
			Env:   env("TOKEN", "target-token-value"),
			Files: []vault.File{{Path: ".kube/config", Content: secret.NewValue("kube-config-value")}},
		}, "ada")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(m.Users, ",") != "ada" || strings.Join(m.EnvVars, ",") != "TOKEN" || strings.Join(m.Files, ",") != ".kube/config" {
			t.Errorf("CreateTarget = %+v", m)
		}
		// The values are sealed, bound to the target.
		raw, err := db.GetTarget(ctx, proj.ID, "prod")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(raw.Env[0].Value, "target-token-value") {
			t.Fatal("a target's value is stored in plaintext")
		}
		env, files, err := v.TargetSecrets(ctx, proj.ID, "prod")
		if err != nil || env[0].Value != "target-token-value" || string(files[0].Content) != "kube-config-value" {
			t.Fatalf("TargetSecrets = %v %v %v", env, files, err)
		}
		m, err = v.UpdateTarget(ctx, proj.ID, "prod", vault.TargetChange{RemoveFiles: []string{".kube/config"}, AllowPRs: ptr(true)}, "bob")
		if err != nil || len(m.Files) != 0 || !m.AllowPRs || m.UpdatedBy != "bob" || len(m.EnvVars) != 1 {
			t.Fatalf("UpdateTarget = %+v, %v", m, err)
		}
		if _, _, err := v.TargetSecrets(ctx, proj.ID, "nope"); err == nil || !strings.Contains(err.Error(), `deployment target "nope" no longer exists`) {
			t.Errorf("TargetSecrets of a missing target = %v", err)
		}

		// Another key is refused while a target holds a secret; rotation
		// re-seals targets too.
		if _, err := vault.New(ctx, vault.Config{Store: db, Key: next}); err == nil || !strings.Contains(err.Error(), `deployment target "prod"`) {
			t.Fatalf("New with another key = %v", err)
		}
		if _, err := vault.Rotate(ctx, db, old, next); err != nil {
			t.Fatal(err)
		}
		v2, err := vault.New(ctx, vault.Config{Store: db, Key: next})
		if err != nil {
			t.Fatal(err)
		}
		if env, _, err := v2.TargetSecrets(ctx, proj.ID, "prod"); err != nil || env[0].Value != "target-token-value" {
			t.Errorf("TargetSecrets after rotation = %v, %v", env, err)
		}
		if err := v2.DeleteTarget(ctx, proj.ID, "prod"); err != nil {
			t.Fatal(err)
		}
		if err := v2.DeleteTarget(ctx, proj.ID, "prod"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteTarget twice = %v", err)
		}
	})
}
