package toolbox

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/batonci/baton/internal/jobsvc"
)

// BenchmarkCacheRestore restores a 2,000-file, 32 MiB directory (like a
// node_modules) three ways in the same run: `cache restore` through the
// job service, the same archive unpacked straight from its file (what
// the toolbox did before the service), and `tar -xzf` of that file.
func BenchmarkCacheRestore(b *testing.B) {
	src := b.TempDir()
	block := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
	for i := range 2000 {
		d := filepath.Join(src, "deps", fmt.Sprintf("pkg%02d", i%50))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		data := append([]byte(fmt.Sprintf("file %d\n", i)), block...)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d.js", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cacheDir := b.TempDir()
	scope := jobsvc.Scope{Project: "bench", Workflow: "w", Job: "j"}
	svc, err := jobsvc.Start(jobsvc.Config{Scope: scope, Cache: jobsvc.LocalCache{Dir: cacheDir}})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	env := append([]string{"HOME=" + b.TempDir()}, svc.Env()...)
	var stderr bytes.Buffer
	if code := run(b.Context(), "cache", []string{"store", "deps", "deps"}, env, src, nil, io.Discard, &stderr); code != 0 {
		b.Fatalf("store: %s", stderr.String())
	}
	archive := filepath.Join(cacheDir, "bench", "entries", "deps")
	if fi, err := os.Stat(archive); err == nil {
		b.Logf("archive: %d files, %.1f MiB", 2000, float64(fi.Size())/(1<<20))
	}

	// Each restore goes to a new directory; the last one is removed
	// outside the timer.
	var last string
	fresh := func(b *testing.B) string {
		b.StopTimer()
		if last != "" {
			os.RemoveAll(last)
		}
		dir, err := os.MkdirTemp(b.TempDir(), "restore-")
		if err != nil {
			b.Fatal(err)
		}
		last = dir
		b.StartTimer()
		return dir
	}
	b.Run("service", func(b *testing.B) {
		for b.Loop() {
			dir := fresh(b)
			if code := run(b.Context(), "cache", []string{"restore", "deps"}, env, dir, nil, io.Discard, io.Discard); code != 0 {
				b.Fatal("restore failed")
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			dir := fresh(b)
			f, err := os.Open(archive)
			if err != nil {
				b.Fatal(err)
			}
			_, err = readArchive(b.Context(), f, dir)
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tar-xzf", func(b *testing.B) {
		for b.Loop() {
			dir := fresh(b)
			if out, err := exec.Command("tar", "-xzf", archive, "-C", dir).CombinedOutput(); err != nil {
				b.Fatalf("tar: %v %s", err, out)
			}
		}
	})
}
