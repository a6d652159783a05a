package jobsvc

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The service's endpoints, all under /v1:
//
//	GET    /v1/cache?sort_by=ORDER            the keys, as JSON []CacheEntry
//	GET    /v1/cache?usage=1&max_size=N       the space used and the budget, as CacheUsage
//	GET    /v1/cache/{key}?stat=1             the key's CacheEntry, or 404
//	GET    /v1/cache/{key}                    the archive
//	PUT    /v1/cache/{key}?max_size=N&cleanup_by=ORDER
//	                                          store the body (201; 200 if the key exists)
//	DELETE /v1/cache/{key}                    200 (deleted) or 404
//	DELETE /v1/cache                          delete every key
//	GET    /v1/artifacts/{scope}/{path...}?id=ID&stat=1  204 or 404
//	GET    /v1/artifacts/{scope}/{path...}?id=ID   the tree stream
//	PUT    /v1/artifacts/{scope}/{path...}?force=1 store the tree stream (201; 409 if it exists)
//	DELETE /v1/artifacts/{scope}/{path...}   yank
//	GET    /v1/context/{key}?ids=ID,...       a sem-context value (text), or 404
//	PUT    /v1/context/{key}?ids=ID           set it to the body (at most 20 KB)
//	DELETE /v1/context/{key}?ids=ID           hide it in that pipeline's context
//	PUT    /v1/test-results                   merge a test report into the job's (reports.go)
//	POST   /v1/test-results/pipeline          merge the pipeline's jobs' reports
//	PUT    /v1/coverage                       merge code coverage into the job's (coverage.go)
//	POST   /v1/workspace                      start making the job's working copy (204)
//
// Errors are JSON {"message": "..."}: 401 without the token, 403 for what
// the job's scope does not allow, 404 ("not found") for what is not
// there, 503 when the job has no cache or artifact store, 400 for bad
// input.

// Orders of cache keys, by cache-cli's names.
const (
	SortStoreTime  = "STORE_TIME"  // newest stored first
	SortAccessTime = "ACCESS_TIME" // most recently restored first
	SortSize       = "SIZE"        // largest first
)

// DefaultCacheSize is the cache's size limit unless the job asks for
// another: that of Semaphore's hosted cache.
const DefaultCacheSize = 9 << 30

// Error is the body of every error response.
type Error struct {
	Message string `json:"message"`
}

// forkRefusal is the message of what a pull request from a fork may not do.
func forkRefusal(what string) string {
	return "refused: " + what + " is not allowed for pull requests from forks (the project's cache and project artifacts are read-only for them)"
}

func (s *Service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/cache", s.cacheList)
	mux.HandleFunc("DELETE /v1/cache", s.cacheClear)
	mux.HandleFunc("GET /v1/cache/{key}", s.cacheGet)
	mux.HandleFunc("PUT /v1/cache/{key}", s.cachePut)
	mux.HandleFunc("DELETE /v1/cache/{key}", s.cacheDelete)
	mux.HandleFunc("GET /v1/artifacts/{scope}/{path...}", s.artifactGet)
	mux.HandleFunc("PUT /v1/artifacts/{scope}/{path...}", s.artifactPut)
	mux.HandleFunc("DELETE /v1/artifacts/{scope}/{path...}", s.artifactDelete)
	mux.HandleFunc("GET /v1/context/{key}", s.contextGet)
	mux.HandleFunc("PUT /v1/context/{key}", s.contextPut)
	mux.HandleFunc("DELETE /v1/context/{key}", s.contextDelete)
	mux.HandleFunc("POST /v1/services", s.serviceStart)
	mux.HandleFunc("GET /v1/services", s.serviceList)
	mux.HandleFunc("DELETE /v1/services/{name}", s.serviceStop)
	mux.HandleFunc("GET /v1/services/{name}/logs", s.serviceLogs)
	mux.HandleFunc("PUT /v1/test-results", s.reportPut)
	mux.HandleFunc("GET /v1/libraries/{name}", s.libraryGet)
	mux.HandleFunc("POST /v1/tools", s.toolProvide)
	mux.HandleFunc("POST /v1/test-results/pipeline", s.reportMerge)
	mux.HandleFunc("PUT /v1/coverage", s.coveragePut)
	mux.HandleFunc("POST /v1/workspace", s.workspaceStart)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 || s.token == "" {
			writeError(w, http.StatusUnauthorized, "the job service needs this job's token (%s)", TokenVar)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(Error{Message: fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// storageError answers an error from a storage.
func storageError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, ErrExists):
		writeError(w, http.StatusConflict, "already exists")
	default:
		writeError(w, http.StatusInternalServerError, "%v", err)
	}
}

// cache returns the job's cache, or answers that it has none.
func (s *Service) cache(w http.ResponseWriter) (CacheStorage, bool) {
	if s.cfg.Cache == nil || s.cfg.Scope.Project == "" {
		writeError(w, http.StatusServiceUnavailable, "this job has no cache")
		return nil, false
	}
	return s.cfg.Cache, true
}

// cacheKey returns the request's key, or answers why it is not valid.
func cacheKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := r.PathValue("key")
	if err := ValidKey(key); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return "", false
	}
	return key, true
}

// forkWrite answers 403 and returns true for a pull request from a fork.
func (s *Service) forkWrite(w http.ResponseWriter, what string) bool {
	if s.cfg.Scope.Fork {
		writeError(w, http.StatusForbidden, "%s", forkRefusal(what))
		return true
	}
	return false
}

func (s *Service) cacheList(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cache(w)
	if !ok {
		return
	}
	if r.URL.Query().Get("usage") == "1" {
		s.cacheUsage(w, r, c)
		return
	}
	order := r.URL.Query().Get("sort_by")
	if order == "" {
		order = SortStoreTime
	}
	if !validSort(order) {
		writeError(w, http.StatusBadRequest, "sort_by %s: want STORE_TIME, ACCESS_TIME or SIZE", order)
		return
	}
	entries, err := c.List(r.Context(), s.cfg.Scope.Project)
	if err != nil {
		storageError(w, err)
		return
	}
	SortEntries(entries, order)
	if entries == nil {
		entries = []CacheEntry{}
	}
	writeJSON(w, http.StatusOK, entries)
}

func (s *Service) cacheGet(w http.ResponseWriter, r *http.Request) {
	c, ok := s.cache(w)
	if !ok {
		return
	}
	key, ok := cacheKey(w, r)
	if !ok {
		return
	}
	if r.URL.Query().Get("stat") == "1" {
		e, err := c.Stat(r.Context(), s.cfg.Scope.Project, key)
		if err != nil {
			storageError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, e)
		return
	}
	f, err := c.Open(r.Context(), s.cfg.Scope.Project, key)
	if err != nil {
		storageError(w, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	io.Copy(w, f)
}

// CacheStored is the answer to a cache store.
type CacheStored struct {
	Stored bool  `json:"stored"`
	Size   int64 `json:"size"`
}

func (s *Service) cachePut(w http.ResponseWriter, r *http.Request) {
	if s.forkWrite(w, "cache store") {
		return
	}
	c, ok := s.cache(w)
	if !ok {
		return
	}
	key, ok := cacheKey(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	maxSize := int64(DefaultCacheSize)
	if v := q.Get("max_size"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, "max_size %s: want a size in bytes", v)
			return
		}
		maxSize = n
	}
	order := q.Get("cleanup_by")
	if order == "" {
		order = SortStoreTime
	}
	if !validSort(order) {
		writeError(w, http.StatusBadRequest, "cleanup_by %s: want STORE_TIME, ACCESS_TIME or SIZE", order)
		return
	}
	project := s.cfg.Scope.Project
	room := func(size int64) error {
		return makeRoom(r, c, project, size, maxSize, order)
	}
	size, stored, err := c.Store(r.Context(), project, key, r.Body, room)
	var tooBig *errTooBig
	switch {
	case errors.As(err, &tooBig), errors.Is(err, ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "%v", err)
	case err != nil:
		storageError(w, err)
	case stored:
		writeJSON(w, http.StatusCreated, CacheStored{Stored: true, Size: size})
	default:
		writeJSON(w, http.StatusOK, CacheStored{Stored: false, Size: size})
	}
}

type errTooBig struct{ size, max int64 }

func (e *errTooBig) Error() string {
	return fmt.Sprintf("the archive (%s) is larger than the whole cache (%s; set CACHE_SIZE in KiB to change it)", HumanSize(e.size), HumanSize(e.max))
}

// makeRoom deletes keys, in the order that evicts first, until size more
// bytes fit in the project's cache.
func makeRoom(r *http.Request, c CacheStorage, project string, size, maxSize int64, order string) error {
	if size > maxSize {
		return &errTooBig{size, maxSize}
	}
	entries, err := c.List(r.Context(), project)
	if err != nil {
		return err
	}
	var used int64
	for _, e := range entries {
		used += e.Size
	}
	SortEntries(entries, order)
	if order != SortSize {
		slices.Reverse(entries) // oldest first
	}
	for _, e := range entries {
		if used+size <= maxSize {
			break
		}
		if _, err := c.Delete(r.Context(), project, e.Key); err != nil {
			return err
		}
		used -= e.Size
	}
	return nil
}

func (s *Service) cacheDelete(w http.ResponseWriter, r *http.Request) {
	if s.forkWrite(w, "cache delete") {
		return
	}
	c, ok := s.cache(w)
	if !ok {
		return
	}
	key, ok := cacheKey(w, r)
	if !ok {
		return
	}
	deleted, err := c.Delete(r.Context(), s.cfg.Scope.Project, key)
	switch {
	case err != nil:
		storageError(w, err)
	case !deleted:
		writeError(w, http.StatusNotFound, "not found")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Service) cacheClear(w http.ResponseWriter, r *http.Request) {
	if s.forkWrite(w, "cache clear") {
		return
	}
	c, ok := s.cache(w)
	if !ok {
		return
	}
	if cl, ok := c.(CacheClearer); ok {
		if err := cl.Clear(r.Context(), s.cfg.Scope.Project); err != nil {
			storageError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	entries, err := c.List(r.Context(), s.cfg.Scope.Project)
	if err != nil {
		storageError(w, err)
		return
	}
	for _, e := range entries {
		if _, err := c.Delete(r.Context(), s.cfg.Scope.Project, e.Key); err != nil {
			storageError(w, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// CacheUsage is the answer to a usage request.
type CacheUsage struct {
	Used   int64 `json:"used"`
	Budget int64 `json:"budget"`
}

// cacheUsage answers the space the cache uses and its budget: the
// storage's own (the server's), else the size the job asks for.
func (s *Service) cacheUsage(w http.ResponseWriter, r *http.Request, c CacheStorage) {
	if b, ok := c.(CacheBudgeter); ok {
		used, budget, err := b.Usage(r.Context(), s.cfg.Scope.Project)
		if err != nil {
			storageError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, CacheUsage{Used: used, Budget: budget})
		return
	}
	u := CacheUsage{Budget: DefaultCacheSize}
	if v := r.URL.Query().Get("max_size"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, "max_size %s: want a size in bytes", v)
			return
		}
		u.Budget = n
	}
	entries, err := c.List(r.Context(), s.cfg.Scope.Project)
	if err != nil {
		storageError(w, err)
		return
	}
	for _, e := range entries {
		u.Used += e.Size
	}
	writeJSON(w, http.StatusOK, u)
}

// artifact returns the artifact a request names, or answers why it may
// not. Writes reach the job's own job and workflow only.
func (s *Service) artifact(w http.ResponseWriter, r *http.Request, write bool) (ArtifactStorage, Artifact, bool) {
	sc := s.cfg.Scope
	if s.cfg.Artifacts == nil || sc.Project == "" {
		writeError(w, http.StatusServiceUnavailable, "this job has no artifact store")
		return nil, Artifact{}, false
	}
	a := Artifact{Project: sc.Project, Scope: r.PathValue("scope")}
	own := map[string]string{"job": sc.Job, "workflow": sc.Workflow, "project": sc.Project}
	ownID, ok := own[a.Scope]
	if !ok {
		writeError(w, http.StatusBadRequest, "unknown scope %q: want job, workflow or project", a.Scope)
		return nil, Artifact{}, false
	}
	a.ID = ownID
	if id := r.URL.Query().Get("id"); id != "" && id != ownID {
		switch {
		case a.Scope == "project":
			writeError(w, http.StatusForbidden, "refused: a job reaches its own project's artifacts only")
			return nil, Artifact{}, false
		case write:
			writeError(w, http.StatusForbidden, "refused: a job changes its own %s's artifacts only", a.Scope)
			return nil, Artifact{}, false
		case id == "." || id == ".." || strings.ContainsAny(id, "/\\\x00"):
			writeError(w, http.StatusBadRequest, "invalid %s ID %q", a.Scope, id)
			return nil, Artifact{}, false
		}
		a.ID = id
	}
	if a.ID == "" {
		writeError(w, http.StatusNotFound, "this job has no %s ID", a.Scope)
		return nil, Artifact{}, false
	}
	p, err := CleanArtifactPath(r.PathValue("path"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return nil, Artifact{}, false
	}
	a.Path = p
	return s.cfg.Artifacts, a, true
}

func (s *Service) artifactGet(w http.ResponseWriter, r *http.Request) {
	st, a, ok := s.artifact(w, r, false)
	if !ok {
		return
	}
	exists, err := st.Exists(r.Context(), a)
	if err != nil {
		storageError(w, err)
		return
	}
	if !exists {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	if r.URL.Query().Get("stat") == "1" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	// A failure half-way cuts the stream: the client sees a broken tar.
	st.Get(r.Context(), a, w)
}

func (s *Service) artifactPut(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("scope") == "project" && s.forkWrite(w, "artifact push to the project") {
		return
	}
	st, a, ok := s.artifact(w, r, true)
	if !ok {
		return
	}
	force := r.URL.Query().Get("force") == "1"
	if err := st.Put(r.Context(), a, r.Body, force); err != nil {
		storageError(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Service) artifactDelete(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("scope") == "project" && s.forkWrite(w, "artifact yank from the project") {
		return
	}
	st, a, ok := s.artifact(w, r, true)
	if !ok {
		return
	}
	if err := st.Delete(r.Context(), a); err != nil {
		storageError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func validSort(s string) bool {
	return s == SortStoreTime || s == SortAccessTime || s == SortSize
}

// SortEntries sorts cache entries in one of the orders.
func SortEntries(entries []CacheEntry, order string) {
	slices.SortStableFunc(entries, func(a, b CacheEntry) int {
		switch order {
		case SortSize:
			switch {
			case a.Size > b.Size:
				return -1
			case a.Size < b.Size:
				return 1
			}
			return 0
		case SortAccessTime:
			return b.Accessed.Compare(a.Accessed)
		default:
			return b.Stored.Compare(a.Stored)
		}
	})
}

// HumanSize formats a byte count like 1.5 MiB.
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// workspaceStart starts making the job's working copy (Config.Workspace):
// the job's own, which the agent would have made at its start anyway.
func (s *Service) workspaceStart(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Workspace == nil {
		writeError(w, http.StatusServiceUnavailable, "this job has no working copy to prepare")
		return
	}
	s.cfg.Workspace()
	w.WriteHeader(http.StatusNoContent)
}
