package vault_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

func TestForgeTokenSealedAndRotated(t *testing.T) {
	ctx := t.Context()
	db := enginetest.OpenNew(t, "sqlite")
	old, next := newKey(t), newKey(t)
	v, err := vault.New(ctx, vault.Config{Store: db, Key: old})
	if err != nil {
		t.Fatal(err)
	}
	p := &ci.Project{ID: "p1", Name: "app", RepoURL: "file:///x", Forge: "github"}
	if p.ForgeToken, err = v.SealForgeToken(p.ID, "ghp-secret-token"); err != nil {
		t.Fatal(err)
	}
	if p.ForgeToken == "" || p.ForgeToken == "ghp-secret-token" {
		t.Fatalf("sealed token = %q", p.ForgeToken)
	}
	if err := db.Tx(ctx, func(tx *store.Tx) error { return tx.CreateProject(p) }); err != nil {
		t.Fatal(err)
	}
	got, err := v.ForgeToken(p)
	if err != nil || got.Reveal() != "ghp-secret-token" {
		t.Fatalf("ForgeToken = %q, %v", got.Reveal(), err)
	}
	// Bound to its project: copied to another, it does not open.
	if _, err := v.ForgeToken(&ci.Project{ID: "p2", ForgeToken: p.ForgeToken}); !errors.Is(err, secret.ErrCorrupt) {
		t.Errorf("another project's token opened: %v", err)
	}
	// Another key is refused while a token is sealed with this one.
	if _, err := vault.New(ctx, vault.Config{Store: db, Key: next}); err == nil || !strings.Contains(err.Error(), "forge token") {
		t.Errorf("vault.New with another key: %v, want refused", err)
	}
	if _, err := vault.Rotate(ctx, db, old, next); err != nil {
		t.Fatal(err)
	}
	v2, err := vault.New(ctx, vault.Config{Store: db, Key: next})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := db.GetProject(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v2.ForgeToken(rotated); err != nil || got.Reveal() != "ghp-secret-token" {
		t.Errorf("after rotation: %q, %v", got.Reveal(), err)
	}
}
