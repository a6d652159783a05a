package library_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/library"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/vault"
)

func newService(t testing.TB) *library.Service {
	t.Helper()
	return newServiceAt(t, nil)
}

// newServiceAt is newService on the clock now (nil: time.Now).
func newServiceAt(t testing.TB, now func() time.Time) *library.Service {
	t.Helper()
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "baton.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, _, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(t.Context(), vault.Config{Store: db, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return library.New(library.Config{Store: db, Sealer: v, Repos: repocache.New(t.TempDir()), Now: now})
}

func TestPublic(t *testing.T) {
	for url, want := range map[string]bool{
		"https://git.test/org/ops.git":         true,
		"git://git.test/org/ops.git":           true,
		"https://user:pw@git.test/org/ops.git": false,
		"file:///srv/ops":                      false,
		"/srv/ops":                             false,
		"ssh://git@git.test/org/ops.git":       false,
		"git@git.test:org/ops.git":             false,
	} {
		if got := library.Public(&store.Library{RepoURL: url}); got != want {
			t.Errorf("Public(%s) = %t, want %t", url, got, want)
		}
	}
	if library.Public(&store.Library{RepoURL: "https://git.test/org/ops.git", Token: "sealed"}) {
		t.Error("a library with a token is public")
	}
}

// TestPinFork: a pull request from a fork gets the public libraries only;
// the others are pinned without a commit, with a reason its pipelines and
// lib checkout show.
func TestPinFork(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	pub := testenv.NewRepo(t, map[string]string{"a": "echo a\n"})
	priv := testenv.NewRepo(t, map[string]string{"b": "echo b\n"})
	pubURL, privURL := pub.HTTPURL(), priv.HTTPURLWithToken("tok")
	if _, err := s.Create(ctx, "pub", library.Change{RepoURL: &pubURL}, "admin"); err != nil {
		t.Fatal(err)
	}
	tok := secret.NewValue("tok")
	if _, err := s.Create(ctx, "priv", library.Change{RepoURL: &privURL, Token: &tok}, "admin"); err != nil {
		t.Fatal(err)
	}
	local := priv.URL()
	if _, err := s.Create(ctx, "local", library.Change{RepoURL: &local}, "admin"); err != nil {
		t.Fatal(err)
	}
	pins, err := s.Pin(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pins {
		if p.SHA == "" || p.Error != "" {
			t.Errorf("pin of %s for a branch = %+v, want a commit", p.Name, p)
		}
	}
	pins, err = s.Pin(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pins {
		switch {
		case p.Name == "pub" && (p.SHA != pub.Git("rev-parse", "HEAD") || p.Error != ""):
			t.Errorf("fork's pin of the public library = %+v", p)
		case p.Name != "pub" && (p.SHA != "" || !strings.Contains(p.Error, "a pull request from a fork gets only the libraries anyone can read")):
			t.Errorf("fork's pin of %s = %+v, want withheld", p.Name, p)
		}
		if p.Name == "priv" {
			if _, err := s.ReadFile(ctx, p, "b"); err == nil || !strings.Contains(err.Error(), "is private") {
				t.Errorf("reading a withheld library: %v", err)
			}
		}
	}
}

// TestDeleteRemovesMirror: removing a library removes its mirror, whose
// configuration holds the URL with the token.
func TestDeleteRemovesMirror(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	repo := testenv.NewRepo(t, map[string]string{"a": "echo a\n"})
	u := repo.HTTPURLWithToken("tok-in-the-mirror")
	tok := secret.NewValue("tok-in-the-mirror")
	if _, err := s.Create(ctx, "ops", library.Change{RepoURL: &u, Token: &tok}, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "ops", library.Change{RepoURL: &u, Token: &tok}, "admin"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("adding the name again: %v, want a conflict", err)
	}
	holding := func() []string {
		var files []string
		filepath.WalkDir(s.ReposDir(), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if b, _ := os.ReadFile(p); strings.Contains(string(b), "tok-in-the-mirror") {
					files = append(files, p)
				}
			}
			return nil
		})
		return files
	}
	if len(holding()) == 0 {
		t.Fatal("the mirror does not hold the token before the removal: the test checks nothing")
	}
	if err := s.Delete(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if files := holding(); len(files) > 0 {
		t.Errorf("after the removal, %v still hold the token", files)
	}
}

// TestRecentHead: the Library page's head comes from the mirror while this
// server fetched it less than RecentHead ago, and from a new fetch after.
func TestRecentHead(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	s := newServiceAt(t, func() time.Time { return now })
	ctx := t.Context()
	repo := testenv.NewRepo(t, map[string]string{"a": "echo a\n"})
	u := repo.URL()
	l, err := s.Create(ctx, "ops", library.Change{RepoURL: &u}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Head(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	moved := repo.Commit("move", map[string]string{"a": "echo moved\n"})
	now = now.Add(library.RecentHead / 2)
	if got, err := s.RecentHead(ctx, l); err != nil || got != first {
		t.Errorf("RecentHead soon after a fetch = %s, %v; want the mirror's %s", got, err, first)
	}
	now = now.Add(library.RecentHead)
	if got, err := s.RecentHead(ctx, l); err != nil || got != moved {
		t.Errorf("RecentHead later = %s, %v; want a fetch's %s", got, err, moved)
	}
}
