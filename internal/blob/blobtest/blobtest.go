// Package blobtest is the contract every blob.Store implementation must
// keep: one suite of tests that the local directory and the S3 backend
// both run.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/batonci/baton/internal/blob"
)

// Run runs the contract against stores that open returns; each call must
// return a new, empty store.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"LargeStreamed", testLargeStreamed},
		{"Replace", testReplace},
		{"NotFound", testNotFound},
		{"Ranges", testRanges},
		{"List", testList},
		{"InvalidKeys", testInvalidKeys},
		{"FailedPutLeavesNothing", testFailedPut},
		{"CancelledPutLeavesNothing", testCancelledPut},
		{"ConcurrentPutsAreAtomic", testConcurrentPuts},
		{"PutSized", testPutSized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func put(t *testing.T, s blob.Store, key, content string) {
	t.Helper()
	info, err := s.Put(t.Context(), key, strings.NewReader(content))
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	if info.Size != int64(len(content)) || info.Key != key {
		t.Fatalf("put %s: info %+v, want key %s size %d", key, info, key, len(content))
	}
}

func get(t *testing.T, s blob.Store, key string, rg blob.Range) string {
	t.Helper()
	rc, err := s.Get(t.Context(), key, rg)
	if err != nil {
		t.Fatalf("get %s %+v: %v", key, rg, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return string(b)
}

func testRoundTrip(t *testing.T, s blob.Store) {
	for _, size := range []int{0, 1, 1000, 1<<20 - 1, 1 << 20, 1<<20 + 1, 3 << 20} {
		key := fmt.Sprintf("sizes/%d.bin", size)
		content := string(pattern(int64(size)))
		put(t, s, key, content)
		if got := get(t, s, key, blob.Range{}); got != content {
			t.Errorf("size %d: got %d bytes back, different content", size, len(got))
		}
		info, err := s.Stat(t.Context(), key)
		if err != nil || info.Size != int64(size) || info.Key != key || info.ModTime.IsZero() {
			t.Errorf("stat size %d: %+v, %v", size, info, err)
		}
	}
}

// testLargeStreamed puts an object bigger than any buffer a backend may
// hold (several S3 parts) from a reader of unknown size, and checks the
// content by hash.
func testLargeStreamed(t *testing.T, s blob.Store) {
	const size = 21<<20 + 12345
	info, err := s.Put(t.Context(), "large/object", io.LimitReader(&patternReader{}, size))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size {
		t.Fatalf("size %d, want %d", info.Size, size)
	}
	want := sha256.New()
	io.Copy(want, io.LimitReader(&patternReader{}, size))
	rc, err := s.Get(t.Context(), "large/object", blob.Range{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := sha256.New()
	if _, err := io.Copy(got, rc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("large object came back different")
	}
	tail := get(t, s, "large/object", blob.Range{Offset: size - 10})
	if tail != string(pattern(size)[size-10:]) {
		t.Fatalf("tail %q", tail)
	}
}

func testReplace(t *testing.T, s blob.Store) {
	put(t, s, "k", "first version, longer")
	put(t, s, "k", "second")
	if got := get(t, s, "k", blob.Range{}); got != "second" {
		t.Fatalf("got %q", got)
	}
}

func testNotFound(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "dir/present", "x")
	for _, key := range []string{"missing", "dir", "dir/missing", "dir/present/below"} {
		if _, err := s.Get(ctx, key, blob.Range{}); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("get %s: %v, want ErrNotFound", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("stat %s: %v, want ErrNotFound", key, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("delete missing %s: %v, want nil", key, err)
		}
	}
	if err := s.Delete(ctx, "dir/present"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "dir/present"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("stat after delete: %v, want ErrNotFound", err)
	}
	// The key is usable again after a delete.
	put(t, s, "dir/present", "again")
}

func testRanges(t *testing.T, s blob.Store) {
	put(t, s, "r", "0123456789")
	put(t, s, "empty", "")
	for _, tc := range []struct {
		key  string
		rg   blob.Range
		want string
	}{
		{"r", blob.Range{}, "0123456789"},
		{"r", blob.Range{Offset: 3}, "3456789"},
		{"r", blob.Range{Offset: 3, Length: 4}, "3456"},
		{"r", blob.Range{Length: 2}, "01"},
		{"r", blob.Range{Offset: 8, Length: 100}, "89"},
		{"r", blob.Range{Offset: 9}, "9"},
		{"r", blob.Range{Offset: 10}, ""},
		{"r", blob.Range{Offset: 10, Length: 5}, ""},
		{"empty", blob.Range{}, ""},
		{"empty", blob.Range{Length: 3}, ""},
	} {
		if got := get(t, s, tc.key, tc.rg); got != tc.want {
			t.Errorf("get %s %+v = %q, want %q", tc.key, tc.rg, got, tc.want)
		}
	}
	for _, rg := range []blob.Range{{Offset: 11}, {Offset: 20, Length: 1}} {
		if _, err := s.Get(t.Context(), "r", rg); !errors.Is(err, blob.ErrInvalidRange) {
			t.Errorf("get r %+v: %v, want ErrInvalidRange", rg, err)
		}
	}
	for _, rg := range []blob.Range{{Offset: -1}, {Length: -1}} {
		if _, err := s.Get(t.Context(), "r", rg); err == nil {
			t.Errorf("get r %+v: no error", rg)
		}
	}
}

func list(t *testing.T, s blob.Store, prefix string) []string {
	t.Helper()
	var keys []string
	for info, err := range s.List(t.Context(), prefix) {
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		keys = append(keys, fmt.Sprintf("%s:%d", info.Key, info.Size))
	}
	return keys
}

func testList(t *testing.T, s blob.Store) {
	for _, k := range []string{"a/1", "a/2", "a/b/3", "ab", "b", "a-c/x"} {
		put(t, s, k, k)
	}
	for _, tc := range []struct {
		prefix string
		want   string
	}{
		{"", "a-c/x:5 a/1:3 a/2:3 a/b/3:5 ab:2 b:1"},
		{"a/", "a/1:3 a/2:3 a/b/3:5"},
		{"a", "a-c/x:5 a/1:3 a/2:3 a/b/3:5 ab:2"},
		{"a/b", "a/b/3:5"},
		{"a/b/", "a/b/3:5"},
		{"a/1", "a/1:3"},
		{"zz", ""},
		{"zz/", ""},
		{"ab/", ""},
	} {
		if got := strings.Join(list(t, s, tc.prefix), " "); got != tc.want {
			t.Errorf("list %q = %q, want %q", tc.prefix, got, tc.want)
		}
	}
	n := 0
	for _, err := range s.List(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		n++
		break
	}
	if n != 1 {
		t.Fatalf("stopping early: %d", n)
	}
	for _, bad := range []string{"/a", "../", "a//", "a/../b", "x\x00"} {
		for _, err := range s.List(t.Context(), bad) {
			if !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("list %q: %v, want ErrInvalidKey", bad, err)
			}
		}
	}
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	ctx := t.Context()
	for _, key := range []string{"", "/abs", "../escape", "a/../../b", "a/./b", ".", "..", "a//b", "a/", "a\\b", "nul\x00", "nl\nx", "bad\xffutf8", strings.Repeat("x", blob.MaxKeyLen+1)} {
		if _, err := s.Put(ctx, key, strings.NewReader("x")); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("put %q: %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(ctx, key, blob.Range{}); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("get %q: %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("stat %q: %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("delete %q: %v, want ErrInvalidKey", key, err)
		}
	}
	if got := list(t, s, ""); len(got) != 0 {
		t.Fatalf("invalid keys left objects: %v", got)
	}
	// Unusual but valid keys work.
	for _, key := range []string{"with space", "unicode/é", ".hidden/.x", "a..b/c...", "%2e%2e/x"} {
		put(t, s, key, key)
		if got := get(t, s, key, blob.Range{}); got != key {
			t.Errorf("get %q = %q", key, got)
		}
	}
}

var errBroken = errors.New("reader broke")

// brokenReader yields n bytes of pattern then fails.
type brokenReader struct {
	r io.Reader
}

func newBroken(n int64) *brokenReader {
	return &brokenReader{r: io.LimitReader(&patternReader{}, n)}
}

func (b *brokenReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, errBroken
	}
	return n, err
}

func testFailedPut(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "kept", "old content")
	// Small (one request) and large (multipart on S3) failures.
	for _, n := range []int64{10, 10 << 20} {
		if _, err := s.Put(ctx, "kept", newBroken(n)); !errors.Is(err, errBroken) {
			t.Errorf("put over kept, reader failing after %d: %v, want the reader's error", n, err)
		}
		if got := get(t, s, "kept", blob.Range{}); got != "old content" {
			t.Errorf("after a failed put of %d bytes the old object became %d bytes", n, len(got))
		}
		if _, err := s.Put(ctx, "new", newBroken(n)); !errors.Is(err, errBroken) {
			t.Errorf("put new, reader failing after %d: %v, want the reader's error", n, err)
		}
		if _, err := s.Stat(ctx, "new"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("after a failed put of %d bytes: stat %v, want ErrNotFound", n, err)
		}
	}
	if got := list(t, s, ""); strings.Join(got, " ") != "kept:11" {
		t.Errorf("objects after failed puts: %v", got)
	}
}

func testCancelledPut(t *testing.T, s blob.Store) {
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("the test stopped it")
	r := &cancelAfter{r: io.LimitReader(&patternReader{}, 30<<20), after: 12 << 20, cancel: func() { cancel(cause) }}
	_, err := s.Put(ctx, "cancelled", r)
	if err == nil {
		t.Fatal("put with a cancelled context succeeded")
	}
	if _, err := s.Stat(t.Context(), "cancelled"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("stat after a cancelled put: %v, want ErrNotFound", err)
	}
}

type cancelAfter struct {
	r      io.Reader
	n      int64
	after  int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}

func testConcurrentPuts(t *testing.T, s blob.Store) {
	var wg sync.WaitGroup
	versions := map[string]bool{}
	for i := range 6 {
		v := strings.Repeat(string(rune('a'+i)), 100_000+i)
		versions[v] = true
		wg.Go(func() {
			if _, err := s.Put(t.Context(), "contended", strings.NewReader(v)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := get(t, s, "contended", blob.Range{}); !versions[got] {
		t.Fatalf("the object is a mix of versions (%d bytes)", len(got))
	}
}

// patternReader yields a deterministic, non-repeating-per-block byte
// stream, so large contents need no memory to describe.
type patternReader struct{ off int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	for i := range b {
		o := p.off + int64(i)
		b[i] = byte(o ^ (o >> 8) ^ (o >> 16) ^ (o >> 24))
	}
	p.off += int64(len(b))
	return len(b), nil
}

func pattern(n int64) []byte {
	b := make([]byte, n)
	(&patternReader{}).Read(b)
	return b
}

func testPutSized(t *testing.T, s blob.Store) {
	ctx := t.Context()
	// Empty, one request, and several parts on S3.
	for _, n := range []int64{0, 100, 9 << 20} {
		key := fmt.Sprintf("sized-%d", n)
		info, err := s.PutSized(ctx, key, io.LimitReader(&patternReader{}, n), n)
		if err != nil || info.Size != n || info.Key != key {
			t.Fatalf("put %d bytes sized: %+v, %v", n, info, err)
		}
		rc, err := s.Get(ctx, key, blob.Range{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		want, _ := io.ReadAll(io.LimitReader(&patternReader{}, n))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("get of %d bytes put sized: %d bytes, %v", n, len(got), err)
		}
	}
	put(t, s, "kept", "old content")
	for _, tc := range []struct {
		name       string
		size, have int64
	}{
		{"short", 100, 99}, {"long", 100, 101}, {"long by far", 10, 2 << 20},
		{"short multipart", 9 << 20, 9<<20 - 1}, {"long multipart", 9 << 20, 9<<20 + 1},
		{"nothing for one byte", 1, 0}, {"one byte for nothing", 0, 1},
	} {
		for _, key := range []string{"kept", "new"} {
			_, err := s.PutSized(ctx, key, io.LimitReader(&patternReader{}, tc.have), tc.size)
			if !errors.Is(err, blob.ErrSizeMismatch) {
				t.Errorf("%s: put of %d bytes as %d over %s: %v, want ErrSizeMismatch", tc.name, tc.have, tc.size, key, err)
			}
		}
		if got := get(t, s, "kept", blob.Range{}); got != "old content" {
			t.Errorf("%s: after a mismatched put the old object became %d bytes", tc.name, len(got))
		}
		if _, err := s.Stat(ctx, "new"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("%s: after a mismatched put: stat %v, want ErrNotFound", tc.name, err)
		}
	}
	if _, err := s.PutSized(ctx, "neg", strings.NewReader(""), -1); !errors.Is(err, blob.ErrSizeMismatch) {
		t.Errorf("negative size: %v, want ErrSizeMismatch", err)
	}
	if _, err := s.PutSized(ctx, "../x", strings.NewReader("x"), 1); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("invalid key: %v, want ErrInvalidKey", err)
	}
}
