package imagecache

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/testenv/probe"
)

func newID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// buildImage builds a small image of its own (busybox plus size random
// bytes) under name, removed at the end of the test.
func buildImage(tb testing.TB, name string, size int) int64 {
	tb.Helper()
	dir := tb.TempDir()
	blob := make([]byte, size)
	rand.Read(blob)
	if err := os.WriteFile(filepath.Join(dir, "blob"), blob, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM baton-test/busybox\nCOPY blob /blob\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command("docker", "build", "-q", "-t", name, dir).CombinedOutput(); err != nil {
		tb.Fatalf("docker build: %v\n%s", err, out)
	}
	tb.Cleanup(func() { exec.Command("docker", "rmi", "-f", name).Run() })
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Size}}", name).Output()
	if err != nil {
		tb.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func present(image string) bool {
	return exec.Command("docker", "image", "inspect", image).Run() == nil
}

func TestEnforceEvictsLeastRecentlyUsed(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	prefix := "baton-imagecache-test-" + newID()
	a, b, c := prefix+"/a:1", prefix+"/b:1", prefix+"/c:1"
	sizeA := buildImage(t, a, 256<<10)
	sizeB := buildImage(t, b, 256<<10)
	sizeC := buildImage(t, c, 256<<10)

	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	state := filepath.Join(t.TempDir(), "images.json")
	// The log at the default level (warnings) says what went.
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cache, err := New(Options{Budget: sizeB + sizeC, StateFile: state, Now: func() time.Time { return now }, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range []string{a, b, c} {
		cache.Used(im)
		now = now.Add(time.Minute)
	}
	removed, err := cache.Enforce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{a}; !slices.Equal(removed, want) {
		t.Fatalf("removed %q, want %q (the least recently used)", removed, want)
	}
	if present(a) || !present(b) || !present(c) {
		t.Errorf("present: a %v b %v c %v, want only b and c", present(a), present(b), present(c))
	}
	if imgs := cache.Images(); !slices.Contains(imgs, b) || slices.Contains(imgs, a) {
		t.Errorf("Images() = %q, want b and not a", imgs)
	}
	if got := logBuf.String(); !strings.Contains(got, "level=WARN msg=\"image removed: over the disk budget\" image="+a) {
		t.Errorf("the log at the default level does not say that %s went:\n%s", a, got)
	}
	if p := cache.Pruning(); p.Removed != 1 || p.Bytes != sizeA || !slices.Equal(p.Last, []string{a}) || !p.LastAt.Equal(now) {
		t.Errorf("Pruning() = %+v, want 1 image (%s, %d bytes) at %v", p, a, sizeA, now)
	}

	// A restart keeps the last uses; a held image is kept, the next
	// least recently used goes.
	cache, err = New(Options{Budget: sizeC, StateFile: state, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	cache.Used(b) // b is now the most recent; c the least
	release := cache.Hold([]string{c})
	removed, err = cache.Enforce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{b}; !slices.Equal(removed, want) {
		t.Fatalf("removed %q, want %q (c is held)", removed, want)
	}
	release()
	if !present(c) {
		t.Errorf("held image c was removed")
	}
}

// TestRefreshEvery: the list of images is read again at each tick, so an
// image removed by hand leaves it without a job in between.
func TestRefreshEvery(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	im := "baton-imagecache-test-" + newID() + "/refresh:1"
	buildImage(t, im, 1024)
	ticks := make(chan time.Time)
	var every time.Duration
	cache, err := New(Options{NewTicker: func(d time.Duration) (<-chan time.Time, func()) {
		every = d
		return ticks, func() {}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { cache.RefreshEvery(ctx, 5*time.Minute); close(done) }()
	defer func() { cancel(); <-done }()
	ticks <- time.Now() // taken: the ticker is running
	if every != 5*time.Minute {
		t.Errorf("ticker every %v, want 5m", every)
	}
	probe.Eventually(t, 30*time.Second, func() error {
		if !slices.Contains(cache.Images(), im) {
			return fmt.Errorf("Images() lacks %s after a tick", im)
		}
		return nil
	})
	if out, err := exec.Command("docker", "rmi", im).CombinedOutput(); err != nil {
		t.Fatalf("docker rmi: %v\n%s", err, out)
	}
	ticks <- time.Now()
	probe.Eventually(t, 30*time.Second, func() error {
		if slices.Contains(cache.Images(), im) {
			return fmt.Errorf("Images() still lists %s, removed by hand, after a tick", im)
		}
		return nil
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestEnforceKeepsImagesContainersUse(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	im := "baton-imagecache-test-" + newID() + "/busy:1"
	buildImage(t, im, 1024)
	name := "baton-imagecache-test-" + newID()
	if out, err := exec.Command("docker", "create", "--name", name, im, "true").CombinedOutput(); err != nil {
		t.Fatalf("docker create: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	cache, err := New(Options{Budget: 1})
	if err != nil {
		t.Fatal(err)
	}
	cache.Used(im)
	removed, err := cache.Enforce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 0 || !present(im) {
		t.Errorf("removed %q, present %v: an image a container uses must stay", removed, present(im))
	}
}
