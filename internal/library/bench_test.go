package library_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/batonci/baton/internal/gitssh/gitsshtest"
	"github.com/batonci/baton/internal/library"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv"
)

// BenchmarkPin measures what fixing the libraries costs a new workflow:
// Pin resolves every library's branch head (a fetch of each mirror, in
// parallel). The baseline is what every workflow already pays once:
// resolving the project's branch head in its mirror. The repositories are
// served over git's smart HTTP on loopback.
func BenchmarkPin(b *testing.B) {
	project := testenv.NewRepo(b, map[string]string{"a": "x\n"})
	url := project.HTTPURL()
	b.Run("baseline=project-branch-head", func(b *testing.B) {
		c := repocache.New(b.TempDir())
		if err := c.Fetch(b.Context(), url); err != nil { // warm, as a library's mirror is
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := c.Resolve(b.Context(), url, "refs/heads/main"); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, n := range []int{1, 5} {
		b.Run(fmt.Sprintf("libraries=%d", n), func(b *testing.B) {
			s := newService(b)
			for i := range n {
				u := testenv.NewRepo(b, map[string]string{"ci/build": "echo build\n"}).HTTPURL()
				if _, err := s.Create(b.Context(), fmt.Sprintf("lib%d", i), library.Change{RepoURL: &u}, "admin"); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				pins, err := s.Pin(b.Context(), false)
				if err != nil || len(pins) != n || pins[0].SHA == "" {
					b.Fatal(pins, err)
				}
			}
		})
	}
	// One library over SSH with its own key (the real OpenSSH server on
	// loopback): each fetch also writes the key to a private file and
	// removes it, and ssh does a key exchange.
	b.Run("libraries=1-over-ssh", func(b *testing.B) {
		srv := gitsshtest.Start(b)
		s := newService(b)
		u := srv.URL(testenv.NewRepo(b, map[string]string{"ci/build": "echo build\n"}).Dir)
		key := secret.NewValue(srv.ClientKey)
		if _, err := s.Create(b.Context(), "lib", library.Change{RepoURL: &u, SSHKey: &key}, "admin"); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			pins, err := s.Pin(b.Context(), false)
			if err != nil || len(pins) != 1 || pins[0].SHA == "" {
				b.Fatal(pins, err)
			}
		}
	})
}

// BenchmarkLibraryFile measures reading a library file at a pinned commit
// (what a commands_file "@NAME/path" costs a compile) against reading a
// file of the project's repository at a commit (a repository
// commands_file), both from resident mirrors.
func BenchmarkLibraryFile(b *testing.B) {
	repo := testenv.NewRepo(b, map[string]string{"ci/build": "echo build\n"})
	sha := repo.Git("rev-parse", "HEAD")
	b.Run("baseline=project-file", func(b *testing.B) {
		c := repocache.New(b.TempDir())
		if err := c.Fetch(b.Context(), repo.URL()); err != nil { // warm, as a library's mirror is
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := c.ReadFile(b.Context(), repo.URL(), sha, "ci/build"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("library-file", func(b *testing.B) {
		s := newService(b)
		u := repo.URL()
		l, err := s.Create(b.Context(), "ops", library.Change{RepoURL: &u}, "admin")
		if err != nil {
			b.Fatal(err)
		}
		pin := store.LibraryPin{Name: "ops", LibraryID: l.ID, SHA: sha}
		for b.Loop() {
			if _, err := s.ReadFile(b.Context(), pin, "ci/build"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lib-checkout-archive", func(b *testing.B) {
		s := newService(b)
		u := repo.URL()
		l, err := s.Create(b.Context(), "ops", library.Change{RepoURL: &u}, "admin")
		if err != nil {
			b.Fatal(err)
		}
		pin := store.LibraryPin{Name: "ops", LibraryID: l.ID, SHA: sha}
		for b.Loop() {
			if err := s.ArchivePin(b.Context(), pin, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}
