package jobsvc

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stores are one machine's cache and artifact directories.
type stores struct{ cache, artifacts string }

func newStores(t *testing.T) stores {
	root := t.TempDir()
	return stores{filepath.Join(root, "cache"), filepath.Join(root, "artifacts")}
}

// start starts a service for scope over st and returns a client of it.
func start(t *testing.T, st stores, scope Scope) (*Service, *Client) {
	t.Helper()
	s, err := Start(Config{Scope: scope, Cache: LocalCache{Dir: st.cache}, Artifacts: LocalArtifacts{Dir: st.artifacts}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := NewClient(envOf(s.Env()))
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func envOf(env []string) func(string) string {
	return func(k string) string {
		for _, kv := range env {
			if key, v, _ := strings.Cut(kv, "="); key == k {
				return v
			}
		}
		return ""
	}
}

// raw sends a request as an attacker would: any path, any token.
func raw(t *testing.T, s *Service, token, method, path string, body io.Reader) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", s.socket)
	}}}
	req, err := http.NewRequest(method, "http://jobsvc"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func putData(data string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, data); return err }
}

func tree(data string) func(io.Writer) error {
	return func(w io.Writer) error { return WriteTreeFile(w, []byte(data), 0o644) }
}

func TestTokenIsRequired(t *testing.T) {
	t.Parallel()
	s, c := start(t, newStores(t), Scope{Project: "p", Workflow: "w", Job: "j"})
	if _, err := c.CacheStore(t.Context(), "k", 0, SortStoreTime, putData("archive")); err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{"", "wrong", s.token[:len(s.token)-1], s.token + "x"} {
		for _, r := range []struct{ method, path string }{
			{"GET", "/v1/cache"}, {"GET", "/v1/cache/k"}, {"PUT", "/v1/cache/k2"}, {"DELETE", "/v1/cache/k"},
			{"DELETE", "/v1/cache"}, {"GET", "/v1/artifacts/job/x"}, {"PUT", "/v1/artifacts/project/x"},
		} {
			code, body := raw(t, s, token, r.method, r.path, strings.NewReader("x"))
			if code != http.StatusUnauthorized || !strings.Contains(body, "needs this job's token") {
				t.Errorf("%s %s with token %q: %d %s, want 401", r.method, r.path, token, code, body)
			}
		}
	}
	if ok, err := c.CacheHas(t.Context(), "k"); !ok || err != nil {
		t.Errorf("the key is gone after refused requests: %v %v", ok, err)
	}
}

func TestSocketPermissions(t *testing.T) {
	t.Parallel()
	s, _ := start(t, newStores(t), Scope{Project: "p"})
	di, err := os.Stat(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o711 {
		t.Errorf("socket directory mode %v, want 0711 (not listable)", di.Mode().Perm())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir()); !os.IsNotExist(err) {
		t.Errorf("Close left the socket directory: %v", err)
	}

	owned, err := Start(Config{Scope: Scope{Project: "p"}, Owner: &Owner{UID: os.Getuid(), GID: os.Getgid()}})
	if err != nil {
		t.Fatal(err)
	}
	defer owned.Close()
	if di, err := os.Stat(owned.Dir()); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("owned socket directory: %v %v, want 0700", di.Mode(), err)
	}
}

func TestForkCannotWrite(t *testing.T) {
	t.Parallel()
	st := newStores(t)
	_, own := start(t, st, Scope{Project: "p", Workflow: "w1", Job: "j1"})
	ctx := t.Context()
	if _, err := own.CacheStore(ctx, "deps", 0, SortStoreTime, putData("v1")); err != nil {
		t.Fatal(err)
	}
	if err := own.ArtifactPush(ctx, "project", "release", false, tree("r1")); err != nil {
		t.Fatal(err)
	}

	_, fork := start(t, st, Scope{Project: "p", Workflow: "w2", Job: "j2", Fork: true})
	refused := func(what string, err error) {
		t.Helper()
		if !IsStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "not allowed for pull requests from forks") {
			t.Errorf("%s from a fork: %v, want 403 refused", what, err)
		}
	}
	_, err := fork.CacheStore(ctx, "evil", 0, SortStoreTime, putData("poison"))
	refused("cache store", err)
	_, err = fork.CacheStore(ctx, "deps", 0, SortStoreTime, putData("poison"))
	refused("cache store of an existing key", err)
	_, err = fork.CacheDelete(ctx, "deps")
	refused("cache delete", err)
	refused("cache clear", fork.CacheClear(ctx))
	refused("artifact push project", fork.ArtifactPush(ctx, "project", "release", true, tree("poison")))
	refused("artifact push project (new path)", fork.ArtifactPush(ctx, "project", "other", false, tree("poison")))
	refused("artifact yank project", fork.ArtifactYank(ctx, "project", "release"))

	// Reads work, and nothing changed.
	rc, err := fork.CacheRestore(ctx, "deps")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "v1" {
		t.Errorf("restore from a fork: %q", data)
	}
	if ok, _ := fork.CacheHas(ctx, "evil"); ok {
		t.Error("a fork stored a key")
	}
	out := filepath.Join(t.TempDir(), "release")
	rc, err = fork.ArtifactPull(ctx, "project", "", "release")
	if err != nil {
		t.Fatal(err)
	}
	if err := ReadTree(ctx, rc, out); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if b, _ := os.ReadFile(out); string(b) != "r1" {
		t.Errorf("project artifact after a fork's attempts: %q", b)
	}
	// A fork's own job and workflow artifacts are its own.
	if err := fork.ArtifactPush(ctx, "job", "log.txt", false, tree("log")); err != nil {
		t.Errorf("a fork's job artifact: %v", err)
	}
	if err := fork.ArtifactPush(ctx, "workflow", "log.txt", false, tree("log")); err != nil {
		t.Errorf("a fork's workflow artifact: %v", err)
	}
}

func TestScopeIsTheJobsOwn(t *testing.T) {
	t.Parallel()
	st := newStores(t)
	ctx := t.Context()
	sa, a := start(t, st, Scope{Project: "alpha", Workflow: "wa", Job: "ja"})
	_, b := start(t, st, Scope{Project: "beta", Workflow: "wb", Job: "jb"})
	if _, err := a.CacheStore(ctx, "secret-key", 0, SortStoreTime, putData("alpha's")); err != nil {
		t.Fatal(err)
	}
	for _, scope := range []string{"job", "workflow", "project"} {
		if err := a.ArtifactPush(ctx, scope, "out", false, tree("alpha's")); err != nil {
			t.Fatal(err)
		}
	}
	// Another project sees nothing of alpha's.
	if es, err := b.CacheList(ctx, SortStoreTime); err != nil || len(es) != 0 {
		t.Errorf("beta lists alpha's cache: %v %v", es, err)
	}
	if ok, _ := b.CacheHas(ctx, "secret-key"); ok {
		t.Error("beta has alpha's key")
	}
	if _, err := b.ArtifactPull(ctx, "project", "alpha", "out"); !IsStatus(err, http.StatusForbidden) {
		t.Errorf("beta pulls alpha's project artifact: %v, want 403", err)
	}
	if ok, _ := b.ArtifactExists(ctx, "job", "ja", "out"); ok {
		t.Error("beta sees alpha's job artifact by its job ID")
	}
	if ok, _ := b.ArtifactExists(ctx, "workflow", "wa", "out"); ok {
		t.Error("beta sees alpha's workflow artifact by its workflow ID")
	}
	// Writes go to the job's own job and workflow only.
	code, body := raw(t, sa, sa.token, "PUT", "/v1/artifacts/job/out?id=other&force=1", treeBody(t, "x"))
	if code != http.StatusForbidden || !strings.Contains(body, "its own job") {
		t.Errorf("push to another job: %d %s", code, body)
	}
	code, body = raw(t, sa, sa.token, "DELETE", "/v1/artifacts/workflow/out?id=other", nil)
	if code != http.StatusForbidden {
		t.Errorf("yank another workflow's: %d %s", code, body)
	}
	// Reads of the project's other jobs work.
	_, a2 := start(t, st, Scope{Project: "alpha", Workflow: "wa", Job: "ja2"})
	if ok, err := a2.ArtifactExists(ctx, "job", "ja", "out"); !ok || err != nil {
		t.Errorf("a job of the project reads another's artifact: %v %v", ok, err)
	}
	if ok, _ := a2.ArtifactExists(ctx, "job", "", "out"); ok {
		t.Error("the new job sees an artifact of its own that another job pushed")
	}
}

func treeBody(t *testing.T, data string) io.Reader {
	var buf bytes.Buffer
	if err := WriteTreeFile(&buf, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestTraversalStaysInScope(t *testing.T) {
	t.Parallel()
	st := newStores(t)
	s, c := start(t, st, Scope{Project: "p", Workflow: "w", Job: "j"})
	ctx := t.Context()
	// Keys are file names.
	for _, key := range []string{"..", ".", "../x", `..\x`, "a/b", strings.Repeat("k", 251), "a\x00b"} {
		if _, err := c.CacheStore(ctx, key, 0, SortStoreTime, putData("x")); err == nil {
			t.Errorf("store key %q: stored, want refused", key)
		}
	}
	for _, p := range []string{"/v1/cache/..%2Fx", "/v1/cache/%2E%2E", "/v1/cache/..%2F..%2Fother%2Fentries%2Fk"} {
		code, body := raw(t, s, s.token, "PUT", p, strings.NewReader("x"))
		if code < 400 {
			t.Errorf("PUT %s: %d %s", p, code, body)
		}
	}
	// Artifact paths cannot leave their scope: refused, or cleaned to a
	// path inside it.
	for _, p := range []string{"../../../escaped", "..%2F..%2F..%2Fescaped", "%2E%2E/%2E%2E/%2E%2E/escaped", "..%5C..%5Cescaped"} {
		raw(t, s, s.token, "PUT", "/v1/artifacts/job/"+p+"?force=1", treeBody(t, "x"))
	}
	filepath.WalkDir(filepath.Dir(st.cache), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "escaped") {
			rel, _ := filepath.Rel(st.artifacts, p)
			if rel != filepath.Join("p", "jobs", "j", "escaped") {
				t.Errorf("an artifact path escaped its scope: %s", p)
			}
		}
		return nil
	})
	// Tree streams hold files and directories under their root only.
	bad := []tar.Header{
		{Name: "../x", Typeflag: tar.TypeReg},
		{Name: "a/../../x", Typeflag: tar.TypeReg},
		{Name: "/etc/x", Typeflag: tar.TypeReg},
		{Name: "b", Typeflag: tar.TypeReg},
		{Name: "a/l", Typeflag: tar.TypeSymlink, Linkname: "/etc"},
		{Name: "a/h", Typeflag: tar.TypeLink, Linkname: "a"},
	}
	for _, h := range bad {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755})
		h.Mode = 0o644
		tw.WriteHeader(&h)
		tw.Close()
		code, body := raw(t, s, s.token, "PUT", "/v1/artifacts/job/t-"+strings.NewReplacer("/", "_", ".", "_").Replace(h.Name), &buf)
		if code < 400 {
			t.Errorf("tree with %s %q: %d %s, want refused", string(h.Typeflag), h.Name, code, body)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(st.cache), "x")); err == nil {
		t.Error("a tree entry escaped")
	}
}

func TestCacheEvictsToFit(t *testing.T) {
	t.Parallel()
	_, c := start(t, newStores(t), Scope{Project: "p"})
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c"} {
		if _, err := c.CacheStore(ctx, k, 25, SortStoreTime, put(strings.Repeat(k, 10))); err != nil {
			t.Fatal(err)
		}
	}
	es, err := c.CacheList(ctx, SortStoreTime)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	if got := strings.Join(keys, ","); got != "c,b" {
		t.Errorf("keys after eviction %q, want c,b", got)
	}
	if _, err := c.CacheStore(ctx, "big", 5, SortStoreTime, putData("0123456789")); !IsStatus(err, http.StatusRequestEntityTooLarge) {
		t.Errorf("an archive larger than the cache: %v", err)
	}
	if st, err := c.CacheStore(ctx, "c", 0, SortStoreTime, putData("again")); err != nil || st.Stored {
		t.Errorf("storing an existing key: %+v %v, want not stored", st, err)
	}
}

func TestContextIsTheWorkflowsOwn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()
	startCtx := func(scope Scope) (*Service, *Client) {
		s, err := Start(Config{Scope: scope, Context: LocalContext{Dir: dir}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		c, err := NewClient(envOf(s.Env()))
		if err != nil {
			t.Fatal(err)
		}
		return s, c
	}
	_, a := startCtx(Scope{Project: "p", Workflow: "wa", Job: "j1"})
	_, a2 := startCtx(Scope{Project: "p", Workflow: "wa", Job: "j2"})
	sb, b := startCtx(Scope{Project: "q", Workflow: "wb", Job: "j3"})
	if err := a.ContextPut(ctx, "ppl", "version", "1.2.3"); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := a2.ContextGet(ctx, []string{"ppl"}, "version"); v != "1.2.3" || !ok || err != nil {
		t.Errorf("another job of the workflow reads %q %v %v", v, ok, err)
	}
	if _, ok, _ := b.ContextGet(ctx, []string{"ppl"}, "version"); ok {
		t.Error("another workflow reads the value")
	}
	for _, p := range []string{
		"/v1/context/version?ids=..", "/v1/context/version?ids=..%2Fwa%2Fppl", "/v1/context/version?ids=ppl,..%2F..%2Fwa%2Fppl",
		"/v1/context/..%2Fwa?ids=ppl", "/v1/context/ab?ids=ppl",
	} {
		if code, body := raw(t, sb, sb.token, "GET", p, nil); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d %s, want 400", p, code, body)
		}
	}
	if code, body := raw(t, sb, sb.token, "PUT", "/v1/context/big?ids=ppl", strings.NewReader(strings.Repeat("v", ContextValueLimit+1))); code != http.StatusBadRequest {
		t.Errorf("a value over 20 KB: %d %s", code, body)
	}
}
