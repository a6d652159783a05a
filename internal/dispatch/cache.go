package dispatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/sizelimit"
	"github.com/batonci/baton/internal/store"
)

// The project caches: the agent endpoints of agentapi/cache.go. Each
// project's archives are objects cache/<project>/<key>/<id> in the blob
// store, one per store; the database knows the keys (store.CacheKey) and
// applies the project's budget, evicting the least recently used keys.
// An agent reaches the cache of the project of a job assigned to it that
// has not finished, and nothing else; a pull request from a fork only
// reads it.

func (d *Dispatcher) cacheRoutes(mux *http.ServeMux) {
	p := agentapi.Prefix + "/jobs/{id}/cache"
	mux.HandleFunc("GET "+p, d.cacheHandler(false, d.cacheList))
	mux.HandleFunc("DELETE "+p, d.cacheHandler(true, d.cacheClear))
	mux.HandleFunc("GET "+p+"/usage", d.cacheHandler(false, d.cacheUsage))
	mux.HandleFunc("GET "+p+"/restore", d.cacheHandler(false, d.cacheRestore))
	mux.HandleFunc("GET "+p+"/key", d.cacheHandler(false, d.cacheStat))
	mux.HandleFunc("PUT "+p+"/key", d.cacheHandler(true, d.cacheStore))
	mux.HandleFunc("DELETE "+p+"/key", d.cacheHandler(true, d.cacheDelete))
}

// cacheJob is the job a cache request is for.
type cacheJob struct {
	project string
	job     *ci.Job
}

// cacheHandler authenticates the agent and checks the job before h: the
// job is the agent's and runs; a write is refused to a pull request from
// a fork.
func (d *Dispatcher) cacheHandler(write bool, h func(w http.ResponseWriter, r *http.Request, c cacheJob) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := d.cacheJobFor(r, write)
		if err == nil {
			err = h(w, r, c)
		}
		if err != nil {
			d.fail(w, r, err)
		}
	}
}

func (d *Dispatcher) cacheJobFor(r *http.Request, write bool) (cacheJob, error) {
	ac, err := d.authenticateAgent(r)
	if err != nil {
		return cacheJob{}, err
	}
	j, err := d.jobFor(r, ac)
	if err != nil {
		return cacheJob{}, err
	}
	if j.State == ci.StateDone {
		return cacheJob{}, errorf(http.StatusConflict, "job %s is finished: it has no cache any more", j.ID)
	}
	if d.cfg.Blobs == nil {
		return cacheJob{}, errorf(http.StatusServiceUnavailable, "this server has no object storage for caches")
	}
	if write {
		p, err := d.db.GetPipeline(r.Context(), j.PipelineID)
		if err != nil {
			return cacheJob{}, err
		}
		wf, err := d.db.GetWorkflow(r.Context(), p.WorkflowID)
		if err != nil {
			return cacheJob{}, err
		}
		if wf.PRFork {
			return cacheJob{}, errorf(http.StatusForbidden, "refused: changing the cache is not allowed for pull requests from forks (the project's cache is read-only for them)")
		}
	}
	return cacheJob{project: j.ProjectID, job: j}, nil
}

// cacheKeyOf returns the request's key, or why it is not valid.
func cacheKeyOf(r *http.Request) (string, error) {
	key := r.URL.Query().Get("key")
	if err := jobsvc.ValidKey(key); err != nil {
		return "", errorf(http.StatusBadRequest, "%v", err)
	}
	if err := blob.ValidateKey("cache/x/" + key); err != nil {
		return "", errorf(http.StatusBadRequest, "invalid cache key %q: it contains a control character", key)
	}
	return key, nil
}

func cacheEntry(k store.CacheKey) agentapi.CacheEntry {
	return agentapi.CacheEntry{Key: k.Key, Size: k.Size, ID: k.BlobKey[strings.LastIndexByte(k.BlobKey, '/')+1:], StoredAt: k.StoredAt, AccessedAt: k.AccessedAt}
}

func (d *Dispatcher) cacheBudget(ctx context.Context, project string) (int64, error) {
	n, err := d.db.CacheBudget(ctx, project)
	if err != nil || n > 0 {
		return n, err
	}
	return agentapi.DefaultCacheBudget, nil
}

func (d *Dispatcher) cacheList(w http.ResponseWriter, r *http.Request, c cacheJob) error {
	ks, err := d.db.CacheKeys(r.Context(), c.project)
	if err != nil {
		return err
	}
	out := make([]agentapi.CacheEntry, len(ks))
	for i, k := range ks {
		out[i] = cacheEntry(k)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Dispatcher) cacheStat(w http.ResponseWriter, r *http.Request, c cacheJob) error {
	key, err := cacheKeyOf(r)
	if err != nil {
		return err
	}
	k, err := d.db.GetCacheKey(r.Context(), c.project, key)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "cache key %q not found", key)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cacheEntry(k))
	return nil
}

func (d *Dispatcher) cacheUsage(w http.ResponseWriter, r *http.Request, c cacheJob) error {
	ks, err := d.db.CacheKeys(r.Context(), c.project)
	if err != nil {
		return err
	}
	budget, err := d.cacheBudget(r.Context(), c.project)
	if err != nil {
		return err
	}
	u := agentapi.CacheUsage{Keys: len(ks), Budget: budget}
	for _, k := range ks {
		u.Used += k.Size
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// cacheStore streams the archive to a new object, then adds the key in
// the database; of two stores of one key, the first to be added wins and
// the other's object is deleted. Keys past the budget are evicted.
func (d *Dispatcher) cacheStore(w http.ResponseWriter, r *http.Request, c cacheJob) error {
	ctx := r.Context()
	key, err := cacheKeyOf(r)
	if err != nil {
		return err
	}
	if k, err := d.db.GetCacheKey(ctx, c.project, key); err == nil {
		writeJSON(w, http.StatusOK, agentapi.CacheStored{Stored: false, Size: k.Size})
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	budget, err := d.cacheBudget(ctx, c.project)
	if err != nil {
		return err
	}
	if r.ContentLength > budget {
		return errorf(http.StatusRequestEntityTooLarge, "the archive (%d bytes) is larger than the project's whole cache (%d bytes; baton project update --cache-size changes it)", r.ContentLength, budget)
	}
	objKey := "cache/" + c.project + "/" + key + "/" + ids.New()
	body := sizelimit.New(r.Body, budget, errors.New("the archive is larger than the project's cache budget"))
	var info blob.Info
	if r.ContentLength >= 0 {
		info, err = d.cfg.Blobs.PutSized(ctx, objKey, body, r.ContentLength)
	} else {
		info, err = d.cfg.Blobs.Put(ctx, objKey, body)
	}
	if body.Over() {
		d.cfg.Blobs.Delete(context.WithoutCancel(ctx), objKey)
		return errorf(http.StatusRequestEntityTooLarge, "the archive is larger than the project's whole cache (%d bytes; baton project update --cache-size changes it)", budget)
	}
	if err != nil {
		return fmt.Errorf("store cache key: %w", err)
	}
	now := d.now()
	added, evicted, err := d.db.AddCacheKey(ctx, store.CacheKey{ProjectID: c.project, Key: key, BlobKey: objKey, Size: info.Size, StoredAt: now, AccessedAt: now}, budget)
	if err != nil || !added {
		d.cfg.Blobs.Delete(context.WithoutCancel(ctx), objKey)
	}
	if err != nil {
		return err
	}
	d.deleteCacheObjects(ctx, evicted)
	if !added {
		writeJSON(w, http.StatusOK, agentapi.CacheStored{Stored: false, Size: info.Size})
		return nil
	}
	writeJSON(w, http.StatusCreated, agentapi.CacheStored{Stored: true, Size: info.Size})
	return nil
}

// deleteCacheObjects deletes the objects of keys that left the
// database; a failure leaves an unreferenced object, logged.
func (d *Dispatcher) deleteCacheObjects(ctx context.Context, ks []store.CacheKey) {
	ctx = context.WithoutCancel(ctx)
	for _, k := range ks {
		if err := d.cfg.Blobs.Delete(ctx, k.BlobKey); err != nil {
			d.log.Error("delete a cache object", "object", k.BlobKey, "err", err)
		}
	}
}

func (d *Dispatcher) cacheDelete(w http.ResponseWriter, r *http.Request, c cacheJob) error {
	key, err := cacheKeyOf(r)
	if err != nil {
		return err
	}
	k, err := d.db.DeleteCacheKey(r.Context(), c.project, key)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "cache key %q not found", key)
	}
	if err != nil {
		return err
	}
	d.deleteCacheObjects(r.Context(), []store.CacheKey{k})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (d *Dispatcher) cacheClear(w http.ResponseWriter, r *http.Request, c cacheJob) error {
	ks, err := d.db.ClearCacheKeys(r.Context(), c.project)
	if err != nil {
		return err
	}
	d.deleteCacheObjects(r.Context(), ks)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// cacheRestore answers the archive of the first matching key, and
// records its use.
func (d *Dispatcher) cacheRestore(w http.ResponseWriter, r *http.Request, c cacheJob) error {
	ctx := r.Context()
	q := r.URL.Query()
	keys := q["key"]
	if len(keys) == 0 {
		return errorf(http.StatusBadRequest, "restore needs at least one key")
	}
	for _, key := range keys {
		if err := jobsvc.ValidKey(key); err != nil {
			return errorf(http.StatusBadRequest, "%v", err)
		}
	}
	k, err := d.db.FindCacheKey(ctx, c.project, keys, q.Get("exact") != "1")
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "no cache key matches %s", strings.Join(keys, ","))
	}
	if err != nil {
		return err
	}
	if err := d.db.TouchCacheKey(ctx, c.project, k.Key, d.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	e := cacheEntry(k)
	w.Header().Set(agentapi.HeaderCacheKey, e.Key)
	w.Header().Set(agentapi.HeaderCacheID, e.ID)
	if r.Header.Get("If-None-Match") == `"`+e.ID+`"` {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	rc, err := d.cfg.Blobs.Get(ctx, k.BlobKey, blob.Range{})
	if errors.Is(err, blob.ErrNotFound) {
		return errorf(http.StatusNotFound, "no cache key matches %s", strings.Join(keys, ","))
	}
	if err != nil {
		return fmt.Errorf("restore cache key: %w", err)
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(k.Size, 10))
	// A failure half-way cuts the stream: the agent sees it short.
	io.Copy(w, rc)
	return nil
}

// CacheOrphanAge is how old an object under cache/ that no key names
// must be before SweepCache deletes it: a store's object appears whole
// just before its key is added, so a younger one may be a store's.
const CacheOrphanAge = time.Hour

// sweepCacheEvery runs SweepCache every interval until ctx ends.
func (d *Dispatcher) sweepCacheEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := d.SweepCache(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("sweep the cache objects", "err", err)
			} else if n > 0 {
				d.log.Info("deleted cache objects no key names", "count", n)
			}
		}
	}
}

// SweepCache deletes the objects under cache/ that no key names and that
// are older than CacheOrphanAge: those of a server that stopped between
// storing an object and adding its key, of an eviction whose delete
// failed, or of a deleted project. Servers may sweep at once: deletes are
// idempotent. It returns how many it deleted.
func (d *Dispatcher) SweepCache(ctx context.Context) (int, error) {
	if d.cfg.Blobs == nil {
		return 0, nil
	}
	cutoff := d.now().Add(-CacheOrphanAge)
	var orphans []string
	for info, err := range d.cfg.Blobs.List(ctx, "cache/") {
		if err != nil {
			return 0, err
		}
		if info.ModTime.After(cutoff) {
			continue
		}
		parts := strings.Split(info.Key, "/")
		if len(parts) == 4 {
			k, err := d.db.GetCacheKey(ctx, parts[1], parts[2])
			if err == nil && k.BlobKey == info.Key {
				continue
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return 0, err
			}
		}
		orphans = append(orphans, info.Key)
	}
	for _, key := range orphans {
		if err := d.cfg.Blobs.Delete(ctx, key); err != nil {
			return 0, err
		}
	}
	return len(orphans), nil
}
