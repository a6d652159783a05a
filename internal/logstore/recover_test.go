package logstore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/logstore"
)

// recoveryLog has several chunks, each with commands, so that losing
// index or command records matters.
func recoveryLog() [][]ci.Event {
	var chunks [][]ci.Event
	for i := range 6 {
		d := fmt.Sprintf("step %d", i)
		chunks = append(chunks, []ci.Event{
			started(i, d),
			output(i, fmt.Sprintf("output of %d\nunterminated %d", i, i)),
			output(i, " end\n"),
			finished(i, d, i, i),
		})
	}
	return chunks
}

// state is what a reader can see of a log.
type state struct {
	Info     logstore.Info
	Lines    []logstore.Line
	Commands []logstore.Command
	Events   []ci.Event
}

func readState(t *testing.T, s *logstore.Store, job string) state {
	t.Helper()
	var st state
	var err error
	if st.Info, err = s.Info(job); err != nil {
		t.Fatal(err)
	}
	st.Info.StoredBytes = 0
	if st.Lines, _, err = s.Lines(t.Context(), job, 0, -1); err != nil {
		t.Fatal(err)
	}
	if st.Commands, err = s.Commands(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	if st.Events, err = s.Events(t.Context(), job, 0, -1); err != nil {
		t.Fatal(err)
	}
	return st
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestCrashRecovery(t *testing.T) {
	chunks := recoveryLog()
	n := len(chunks)
	tests := []struct {
		name   string
		seal   bool
		damage func(t *testing.T, dir string)
		keep   int  // chunks that survive
		sealed bool // the seal survives
	}{
		{
			name: "data torn mid-block",
			damage: func(t *testing.T, dir string) {
				path := filepath.Join(dir, "data")
				truncate(t, path, fileSize(t, path)-7)
			},
			keep: n - 1,
		},
		{
			name: "data torn in a block header, index lost",
			damage: func(t *testing.T, dir string) {
				blocks := blockEnds(t, dir)
				truncate(t, filepath.Join(dir, "data"), blocks[n-3]+10)
				truncate(t, filepath.Join(dir, "index"), 0)
			},
			keep: n - 2,
		},
		{
			name: "garbage after the last block",
			damage: func(t *testing.T, dir string) {
				appendBytes(t, filepath.Join(dir, "data"), []byte("garbage that is not a block header......"))
			},
			keep: n,
		},
		{
			name: "index lost",
			damage: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, "index")); err != nil {
					t.Fatal(err)
				}
			},
			keep: n,
		},
		{
			name: "index torn, last records lost",
			damage: func(t *testing.T, dir string) {
				truncate(t, filepath.Join(dir, "index"), 3*64+20)
			},
			keep: n,
		},
		{
			name: "index record zeroed",
			damage: func(t *testing.T, dir string) {
				f, err := os.OpenFile(filepath.Join(dir, "index"), os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.WriteAt(make([]byte, 64), 2*64); err != nil {
					t.Fatal(err)
				}
			},
			keep: n,
		},
		{
			name: "command records lost",
			damage: func(t *testing.T, dir string) {
				path := filepath.Join(dir, "commands")
				truncate(t, path, fileSize(t, path)/2)
			},
			keep: n,
		},
		{
			name: "whole last block lost, index ahead",
			damage: func(t *testing.T, dir string) {
				blocks := blockEnds(t, dir)
				truncate(t, filepath.Join(dir, "data"), blocks[n-2])
			},
			keep: n - 1,
		},
		{
			name: "seal block written, its index record lost",
			seal: true,
			damage: func(t *testing.T, dir string) {
				truncate(t, filepath.Join(dir, "index"), int64(n)*64)
			},
			keep: n, sealed: true,
		},
		{
			name: "seal block torn",
			seal: true,
			damage: func(t *testing.T, dir string) {
				path := filepath.Join(dir, "data")
				truncate(t, path, fileSize(t, path)-1)
			},
			keep: n,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			s := openStore(t, root)
			appendAll(t, s, "ref", chunks[:tt.keep]...)
			if tt.sealed {
				if err := s.Seal("ref"); err != nil {
					t.Fatal(err)
				}
			}
			want := readState(t, s, "ref")
			appendAll(t, s, "job", chunks...)
			if tt.seal {
				if err := s.Seal("job"); err != nil {
					t.Fatal(err)
				}
			}
			s.Close() // the crash
			jobDir := filepath.Join(root, "job")
			tt.damage(t, jobDir)

			// A reader sees the surviving chunks and changes nothing.
			before := dirSizes(t, jobDir)
			reader := openStore(t, root)
			if diff := cmp.Diff(want, readState(t, reader, "job"), cmpTime); diff != "" {
				t.Errorf("reader after the crash (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, dirSizes(t, jobDir)); diff != "" {
				t.Errorf("reader changed files (-before +after):\n%s", diff)
			}
			reader.Close()

			// The next writer repairs the files, then goes on.
			w := openStore(t, root)
			if next, err := w.Next("job"); err != nil || next != tt.keep {
				t.Fatalf("Next = %d, %v; want %d", next, err, tt.keep)
			}
			if tt.sealed {
				if err := w.Append(t.Context(), "job", logstore.Chunk{Seq: tt.keep}); !errors.Is(err, logstore.ErrSealed) {
					t.Fatalf("Append after recovered seal = %v, want ErrSealed", err)
				}
			} else {
				appendAll(t, w, "job", chunks[tt.keep:]...)
				appendAll(t, w, "ref", chunks[tt.keep:]...)
			}
			// Seal (a no-op on a sealed log) is a write, so it repairs too.
			for _, job := range []string{"job", "ref"} {
				if err := w.Seal(job); err != nil {
					t.Fatal(err)
				}
			}
			want = readState(t, w, "ref")
			if diff := cmp.Diff(want, readState(t, w, "job"), cmpTime); diff != "" {
				t.Errorf("after recovery (-want +got):\n%s", diff)
			}
			// Index and data agree: a fresh reader of the repaired files
			// sees the same, and the files hold nothing more.
			w.Close()
			if diff := cmp.Diff(want, readState(t, openStore(t, root), "job"), cmpTime); diff != "" {
				t.Errorf("reading the repaired files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(dirSizes(t, filepath.Join(root, "ref")), dirSizes(t, jobDir)); diff != "" {
				t.Errorf("repaired files differ in size from an undamaged log (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCorruptBlock(t *testing.T) {
	root := t.TempDir()
	s := openStore(t, root)
	appendAll(t, s, "job", recoveryLog()...)
	blocks := blockEnds(t, filepath.Join(root, "job"))
	f, err := os.OpenFile(filepath.Join(root, "job", "data"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0xee}, blocks[1]+40); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, _, err := s.Lines(t.Context(), "job", 0, -1); !errors.Is(err, logstore.ErrCorrupt) {
		t.Errorf("Lines over a corrupt block = %v, want ErrCorrupt", err)
	}
	if lines, _, err := s.Tail(t.Context(), "job", 1); err != nil || len(lines) != 1 {
		t.Errorf("Tail past the corrupt block = %v, %v", lines, err)
	}
}

// blockEnds returns the end offset of each block, from the index file
// (bytes 16..24 offset, 24..28 length of each 64-byte record).
func blockEnds(t *testing.T, dir string) []int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index"))
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	for ; len(b) >= 64; b = b[64:] {
		off := int64(b[16]) | int64(b[17])<<8 | int64(b[18])<<16 | int64(b[19])<<24
		size := int64(b[24]) | int64(b[25])<<8 | int64(b[26])<<16 | int64(b[27])<<24
		ends = append(ends, off+size)
	}
	return ends
}

func dirSizes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for _, e := range entries {
		sizes[e.Name()] = fileSize(t, filepath.Join(dir, e.Name()))
	}
	return sizes
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}
