package workspace_test

// Benchmarks of a job's copy of the working tree, each against baselines
// measured in the same run on the same tree:
//
//   - cp-a:        `cp -a` of a materialized copy (same files and .git)
//   - tar-pipe:    `tar -C src -cf - . | tar -C dst -xf -` of the same
//   - git-clone:   `git clone --shared` of the user's repository, which
//     checks the files out of the object database (what every job would
//     pay without the template)
//
// Run with, for example:
//
//	go test ./internal/workspace -run '^$' -bench . -benchtime 10x

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/batonci/baton/internal/workspace"
)

// makeTree writes n files totalling about size bytes (sizes vary from 10%
// to 190% of the mean), 100 to a directory, two directory levels deep,
// commits them, and modifies a few so the snapshot is dirty.
func makeTree(b testing.TB, n, size int) string {
	b.Helper()
	dir := gittest.Init(b)
	rng := rand.New(rand.NewPCG(1, 2))
	mean := size / n
	buf := make([]byte, 2*mean)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i/1000), fmt.Sprintf("s%02d", i/100%10), fmt.Sprintf("f%05d.dat", i))
		must(b, os.MkdirAll(filepath.Dir(p), 0o755))
		sz := mean/10 + rng.IntN(mean*18/10+1)
		for j := range sz {
			buf[j] = byte(rng.Uint32())
		}
		mode := os.FileMode(0o644)
		if i%50 == 0 {
			mode = 0o755
		}
		must(b, os.WriteFile(p, buf[:sz], mode))
	}
	gittest.Git(b, dir, "add", "-A")
	gittest.Git(b, dir, "-c", "core.compression=1", "commit", "-q", "-m", "tree")
	for i := range 10 {
		gittest.Write(b, dir, map[string]string{fmt.Sprintf("changed/%d.txt", i): "uncommitted\n"})
	}
	return dir
}

type benchTree struct {
	repo      *gitrepo.Repo
	snap      *workspace.Snapshot
	reference string // a materialized copy: the source of the baselines
}

func setup(b testing.TB, n, size int) *benchTree {
	b.Helper()
	dir := makeTree(b, n, size)
	repo, err := gitrepo.Open(context.Background(), dir)
	must(b, err)
	snap, err := workspace.Take(context.Background(), repo, b.TempDir())
	must(b, err)
	b.Cleanup(func() { snap.Cleanup() })
	ref := filepath.Join(b.TempDir(), "reference")
	must(b, snap.Materialize(context.Background(), ref))
	return &benchTree{repo: repo, snap: snap, reference: ref}
}

// Copies are removed only when the whole benchmark ends: on ext4 without
// a journal, creating files soon after deleting many is much slower (the
// allocator skips recently deleted inodes), which would penalize whichever
// method runs after a deletion.
func benchCopies(b *testing.B, n, size int) {
	bt := setup(b, n, size)
	root := b.TempDir()
	seq := 0
	run := func(name string, copy func(dst string) error) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for range b.N {
				seq++
				if err := copy(filepath.Join(root, fmt.Sprintf("%s-%d", name, seq))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("materialize", func(dst string) error {
		return bt.snap.Materialize(context.Background(), dst)
	})
	run("cp-a", func(dst string) error {
		return command("cp", "-a", bt.reference, dst)
	})
	run("tar-pipe", func(dst string) error {
		if err := os.Mkdir(dst, 0o755); err != nil {
			return err
		}
		return command("bash", "-c", `set -o pipefail; tar -C "$1" -cf - . | tar -C "$2" -xf -`, "-", bt.reference, dst)
	})
	run("git-clone", func(dst string) error {
		return command("git", "clone", "-q", "--shared", bt.repo.Root(), dst)
	})
}

// BenchmarkMaterializeSmall copies a 20-file tree.
func BenchmarkMaterializeSmall(b *testing.B) { benchCopies(b, 20, 20*2048) }

// BenchmarkMaterializeLarge copies a 10,000-file, 100 MB tree.
func BenchmarkMaterializeLarge(b *testing.B) { benchCopies(b, 10_000, 100<<20) }

// BenchmarkMaterializeLargeParallel makes 4 copies of the large tree at
// once, as parallel jobs do, against 4 `cp -a` at once.
func BenchmarkMaterializeLargeParallel(b *testing.B) {
	bt := setup(b, 10_000, 100<<20)
	root := b.TempDir()
	const jobs = 4
	seq := 0
	run := func(name string, copy func(dst string) error) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(jobs * 100 << 20)
			for range b.N {
				seq++
				errs := make(chan error, jobs)
				for j := range jobs {
					dst := filepath.Join(root, fmt.Sprintf("%s-%d-%d", name, seq, j))
					go func() { errs <- copy(dst) }()
				}
				for range jobs {
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
	run("materialize", func(dst string) error {
		return bt.snap.Materialize(context.Background(), dst)
	})
	run("cp-a", func(dst string) error {
		return command("cp", "-a", bt.reference, dst)
	})
}

// BenchmarkSnapshotLarge measures Take on the large tree (10 untracked
// files) and the one-time template checkout of the first Materialize.
func BenchmarkSnapshotLarge(b *testing.B) {
	dir := makeTree(b, 10_000, 100<<20)
	repo, err := gitrepo.Open(context.Background(), dir)
	must(b, err)
	tmp := b.TempDir()
	var snaps []*workspace.Snapshot
	b.Cleanup(func() {
		for _, s := range snaps {
			s.Cleanup()
		}
	})
	b.Run("take", func(b *testing.B) {
		for range b.N {
			s, err := workspace.Take(context.Background(), repo, tmp)
			if err != nil {
				b.Fatal(err)
			}
			snaps = append(snaps, s)
		}
	})
	seq := 0
	b.Run("take+first-materialize", func(b *testing.B) {
		for range b.N {
			seq++
			s, err := workspace.Take(context.Background(), repo, tmp)
			if err != nil {
				b.Fatal(err)
			}
			snaps = append(snaps, s)
			if err := s.Materialize(context.Background(), filepath.Join(tmp, fmt.Sprint("first-", seq))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGitStatusInCopy measures the first `git status` in a job's
// copy: Materialize's copy (whose index carries the copy's stat data)
// against a `cp -a` copy (whose index does not, so git rehashes every
// file). GIT_OPTIONAL_LOCKS=0 keeps git from saving its refresh, so every
// iteration is a first status.
func BenchmarkGitStatusInCopy(b *testing.B) {
	bt := setup(b, 10_000, 100<<20)
	cp := filepath.Join(b.TempDir(), "cp")
	must(b, command("cp", "-a", bt.reference, cp))
	for _, c := range []struct{ name, dir string }{{"materialized", bt.reference}, {"cp-a", cp}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				if err := command("git", "-C", c.dir, "status", "--porcelain"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func command(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, stderr.String())
	}
	return nil
}
