package vault_test

import (
	"strings"
	"testing"

	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

// TestLibraryTokenRotate: a library's token is bound to the library and
// its URL, re-sealed by a key rotation, and another key is refused while
// a token is sealed with this one.
func TestLibraryTokenRotate(t *testing.T) {
	ctx := t.Context()
	db := enginetest.OpenNew(t, "sqlite")
	old, next := newKey(t), newKey(t)
	v, err := vault.New(ctx, vault.Config{Store: db, Key: old})
	if err != nil {
		t.Fatal(err)
	}
	l := &store.Library{ID: "l1", Name: "ops", RepoURL: "https://git.test/org/ops.git", Branch: "main"}
	if l.Token, err = v.SealLibraryToken(l, "tok-123"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(l.Token, "tok-123") {
		t.Fatal("the token is stored in plain")
	}
	if err := db.Tx(ctx, func(tx *store.Tx) error { return tx.CreateLibrary(l) }); err != nil {
		t.Fatal(err)
	}
	const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n"
	s := &store.Library{ID: "l3", Name: "ssh", RepoURL: "ssh://git@git.test/org/ssh.git", Branch: "main"}
	if s.SSHKey, err = v.SealLibrarySSHKey(s, key); err != nil || strings.Contains(s.SSHKey, "b3Blbn") {
		t.Fatalf("sealed SSH key %q, %v", s.SSHKey, err)
	}
	if err := db.Tx(ctx, func(tx *store.Tx) error { return tx.CreateLibrary(s) }); err != nil {
		t.Fatal(err)
	}
	if _, err := v.LibraryToken(s); err != nil {
		t.Errorf("a library with an SSH key alone has no token: %v", err)
	}
	movedSSH := *s
	movedSSH.RepoURL = "ssh://git@evil.test/org/ssh.git"
	if _, err := v.LibrarySSHKey(&movedSSH); err == nil {
		t.Error("the SSH key opened for another repository URL")
	}
	moved := *l
	moved.RepoURL = "https://evil.test/org/ops.git"
	if _, err := v.LibraryToken(&moved); err == nil {
		t.Error("the token opened for another repository URL")
	}
	other := *l
	other.ID = "l2"
	if _, err := v.LibraryToken(&other); err == nil {
		t.Error("the token opened for another library")
	}
	if _, err := vault.New(ctx, vault.Config{Store: db, Key: next}); err == nil || !strings.Contains(err.Error(), "library token") {
		t.Errorf("vault.New with another key: %v, want refused naming the library tokens", err)
	}
	if _, err := vault.Rotate(ctx, db, old, next); err != nil {
		t.Fatal(err)
	}
	v2, err := vault.New(ctx, vault.Config{Store: db, Key: next})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.GetLibrary(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := v2.LibraryToken(got); err != nil || tok.Reveal() != "tok-123" {
		t.Errorf("token after rotation: %q, %v", tok.Reveal(), err)
	}
	if got, err = db.GetLibrary(ctx, "ssh"); err != nil {
		t.Fatal(err)
	}
	if k, err := v2.LibrarySSHKey(got); err != nil || k.Reveal() != key {
		t.Errorf("SSH key after rotation: %v", err)
	}
}
