package repocache_test

import (
	"errors"
	"io"
	"io/fs"
	"testing"

	"github.com/batonci/baton/internal/repocache"
)

func TestFileFS(t *testing.T) {
	boom := errors.New("mirror unreadable")
	fsys := repocache.FileFS(func(name string) ([]byte, error) {
		switch name {
		case ".semaphore/semaphore.yml":
			return []byte("version: v1.0\n"), nil
		case "broken":
			return nil, boom
		}
		return nil, errors.Join(errors.New("git: no such path"), fs.ErrNotExist)
	})
	f, err := fsys.Open(".semaphore/semaphore.yml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	st, _ := f.Stat()
	if string(b) != "version: v1.0\n" || st.Name() != "semaphore.yml" || st.Size() != 14 || st.IsDir() {
		t.Errorf("file %q, stat %s %d %v", b, st.Name(), st.Size(), st.IsDir())
	}
	var pe *fs.PathError
	if _, err := fsys.Open("missing.yml"); !errors.As(err, &pe) || pe.Err != fs.ErrNotExist {
		t.Errorf("missing file: %v, want a PathError of fs.ErrNotExist", err)
	}
	if _, err := fs.ReadFile(fsys, "broken"); !errors.Is(err, boom) {
		t.Errorf("unreadable file: %v, want the reader's error", err)
	}
	for _, bad := range []string{"../etc/passwd", "/etc/passwd", "a//b", ""} {
		if _, err := fsys.Open(bad); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want fs.ErrInvalid", bad, err)
		}
	}
}
