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
	if p.ForgeToken, err = v.SealForgeToken(p, "ghp-secret-token"); err != nil {
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

// TestForgeTokenOpensOnlyForItsForge checks a token is bound to the forge
// kind and URL it was sealed for: a project whose forge changed, even in
// the database behind the API's back, cannot open it to send it.
func TestForgeTokenOpensOnlyForItsForge(t *testing.T) {
	db := enginetest.OpenNew(t, "sqlite")
	v, err := vault.New(t.Context(), vault.Config{Store: db, Key: newKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	p := &ci.Project{ID: "p1", Forge: "gitea", ForgeURL: "https://git.example.com"}
	if p.ForgeToken, err = v.SealForgeToken(p, "tok"); err != nil {
		t.Fatal(err)
	}
	if got, err := v.ForgeToken(p); err != nil || got.Reveal() != "tok" {
		t.Fatalf("ForgeToken = %q, %v", got.Reveal(), err)
	}
	for _, moved := range []*ci.Project{
		{ID: "p1", Forge: "gitea", ForgeURL: "https://evil.example.com", ForgeToken: p.ForgeToken},
		{ID: "p1", Forge: "gitlab", ForgeURL: "https://git.example.com", ForgeToken: p.ForgeToken},
		{ID: "p1", Forge: "gitea", ForgeURL: "https://git.example.com.evil.example", ForgeToken: p.ForgeToken},
	} {
		if got, err := v.ForgeToken(moved); err == nil {
			t.Errorf("token opened for %s %s: %q", moved.Forge, moved.ForgeURL, got.Reveal())
		}
	}
}

// TestPlainValuesSealedAtStart checks that a webhook secret an older
// version stored in plain, and a forge token sealed before tokens were
// bound to their forge, are sealed (again) when the vault opens.
func TestPlainValuesSealedAtStart(t *testing.T) {
	ctx := t.Context()
	db := enginetest.OpenNew(t, "sqlite")
	key := newKey(t)
	legacy, err := key.Seal([]byte("old-token"), secret.AD("baton forge token", "p1"))
	if err != nil {
		t.Fatal(err)
	}
	p := &ci.Project{ID: "p1", Name: "app", RepoURL: "file:///x", Forge: "github", WebhookSecret: "plain-hook-secret", ForgeToken: legacy}
	if err := db.Tx(ctx, func(tx *store.Tx) error { return tx.CreateProject(p) }); err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(ctx, vault.Config{Store: db, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.GetProject(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got.WebhookSecret, "plain-hook-secret") || got.ForgeToken == legacy {
		t.Fatalf("after start: webhook secret %q, token re-sealed %t", got.WebhookSecret, got.ForgeToken != legacy)
	}
	if s, err := v.WebhookSecret(got); err != nil || s.Reveal() != "plain-hook-secret" {
		t.Errorf("WebhookSecret = %q, %v", s.Reveal(), err)
	}
	if tok, err := v.ForgeToken(got); err != nil || tok.Reveal() != "old-token" {
		t.Errorf("ForgeToken = %q, %v", tok.Reveal(), err)
	}
	// Sealed values are bound to their project.
	if _, err := v.WebhookSecret(&ci.Project{ID: "p2", WebhookSecret: got.WebhookSecret}); err == nil {
		t.Error("another project's webhook secret opened")
	}
	// Rotation re-seals the webhook secret too.
	next := newKey(t)
	if _, err := vault.Rotate(ctx, db, key, next); err != nil {
		t.Fatal(err)
	}
	v2, err := vault.New(ctx, vault.Config{Store: db, Key: next})
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := db.GetProject(ctx, "app")
	if s, err := v2.WebhookSecret(rotated); err != nil || s.Reveal() != "plain-hook-secret" {
		t.Errorf("after rotation: WebhookSecret = %q, %v", s.Reveal(), err)
	}
}
