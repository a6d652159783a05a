package jobsvc

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// ContextStorage keeps sem-context values: per workflow, a context per
// pipeline (named by its artifact ID), each a set of keys, where a key
// deleted in a context hides the same key of the contexts after it.
type ContextStorage interface {
	// Get returns key's value from the first of ids (the current
	// pipeline's context, then its ancestors') that has it or hides it.
	Get(ctx context.Context, workflow string, ids []string, key string) (string, bool, error)
	// Put sets key in context id.
	Put(ctx context.Context, workflow, id, key, value string) error
	// Delete hides key in context id.
	Delete(ctx context.Context, workflow, id, key string) error
}

// ContextValueLimit is the largest sem-context value, as on Semaphore.
const ContextValueLimit = 20_000

// Compiled on first use: a counted repetition compiles to thousands of
// allocations, which every baton process (a job supervisor, a toolbox
// command) would otherwise pay when it starts.
var contextKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{3,256}$`) })

// ValidContextKey checks a sem-context key.
func ValidContextKey(k string) error {
	if !contextKeyRE().MatchString(k) {
		return errors.New("invalid key " + quote(k) + ": a key must be between 3 and 256 characters in length, and can contain letters, digits, and characters _ and - (no spaces)")
	}
	return nil
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// validContextID reports whether id can name a pipeline's context.
func validContextID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, "/\\\x00")
}

// LocalContext keeps each workflow's contexts in Dir/<workflow>/<id>: a
// file per key, and .deleted/<key> for keys deleted in that context.
type LocalContext struct{ Dir string }

func (l LocalContext) dir(workflow, id string) string {
	return filepath.Join(l.Dir, dirName(workflow), dirName(id))
}

// Get implements ContextStorage.
func (l LocalContext) Get(ctx context.Context, workflow string, ids []string, key string) (string, bool, error) {
	for _, id := range ids {
		dir := l.dir(workflow, id)
		if _, err := os.Stat(filepath.Join(dir, ".deleted", key)); err == nil {
			return "", false, nil
		}
		data, err := os.ReadFile(filepath.Join(dir, key))
		if err == nil {
			return string(data), true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", false, err
		}
	}
	return "", false, nil
}

// Put implements ContextStorage.
func (l LocalContext) Put(ctx context.Context, workflow, id, key, value string) error {
	dir := l.dir(workflow, id)
	if err := writeFileAtomic(filepath.Join(dir, key), []byte(value)); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(dir, ".deleted", key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Delete implements ContextStorage.
func (l LocalContext) Delete(ctx context.Context, workflow, id, key string) error {
	dir := l.dir(workflow, id)
	err := os.Remove(filepath.Join(dir, key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, ".deleted", key), nil)
}

// writeFileAtomic writes a file that readers see whole or not at all.
func writeFileAtomic(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// contextRequest returns the context store, the key and the pipeline
// contexts a sem-context request names, or answers why not.
func (s *Service) contextRequest(w http.ResponseWriter, r *http.Request) (ContextStorage, string, []string, bool) {
	if s.cfg.Context == nil || s.cfg.Scope.Workflow == "" {
		writeError(w, http.StatusServiceUnavailable, "this job has no context store")
		return nil, "", nil, false
	}
	key := r.PathValue("key")
	if err := ValidContextKey(key); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return nil, "", nil, false
	}
	ids := strings.Split(r.URL.Query().Get("ids"), ",")
	for _, id := range ids {
		if !validContextID(id) {
			writeError(w, http.StatusBadRequest, "invalid pipeline context %s", quote(id))
			return nil, "", nil, false
		}
	}
	return s.cfg.Context, key, ids, true
}

// contextGet answers a key's value (text), or 404.
func (s *Service) contextGet(w http.ResponseWriter, r *http.Request) {
	st, key, ids, ok := s.contextRequest(w, r)
	if !ok {
		return
	}
	v, found, err := st.Get(r.Context(), s.cfg.Scope.Workflow, ids, key)
	switch {
	case err != nil:
		storageError(w, err)
	case !found:
		writeError(w, http.StatusNotFound, "not found")
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, v)
	}
}

// contextPut sets a key in the first of the request's contexts.
func (s *Service) contextPut(w http.ResponseWriter, r *http.Request) {
	st, key, ids, ok := s.contextRequest(w, r)
	if !ok {
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, ContextValueLimit+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if len(data) > ContextValueLimit {
		writeError(w, http.StatusBadRequest, "the value cannot be more than 20KB in size")
		return
	}
	if err := st.Put(r.Context(), s.cfg.Scope.Workflow, ids[0], key, string(data)); err != nil {
		storageError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// contextDelete hides a key in the first of the request's contexts.
func (s *Service) contextDelete(w http.ResponseWriter, r *http.Request) {
	st, key, ids, ok := s.contextRequest(w, r)
	if !ok {
		return
	}
	if err := st.Delete(r.Context(), s.cfg.Scope.Workflow, ids[0], key); err != nil {
		storageError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
