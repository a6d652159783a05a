package store

import (
	"context"
	"errors"
	"time"
)

// CacheKey is one key of a project's cache: its archive is the object
// BlobKey.
type CacheKey struct {
	ProjectID  string
	Key        string
	BlobKey    string
	Size       int64
	StoredAt   time.Time
	AccessedAt time.Time
}

const cacheKeyCols = `project_id, key, blob_key, size, stored_at, accessed_at`

func scanCacheKey(s scanner) (CacheKey, error) {
	var k CacheKey
	err := s.Scan(&k.ProjectID, &k.Key, &k.BlobKey, &k.Size, timeCol{&k.StoredAt}, timeCol{&k.AccessedAt})
	return k, err
}

// CacheKeys returns a project's cache keys, newest stored first.
func (db *DB) CacheKeys(ctx context.Context, projectID string) ([]CacheKey, error) {
	ks, err := collect(db.reader(ctx), scanCacheKey, `SELECT `+cacheKeyCols+` FROM cache_keys
		WHERE project_id = $1 ORDER BY stored_at DESC, key`, projectID)
	return ks, wrap("list cache keys", err)
}

// GetCacheKey returns a key of a project's cache, or ErrNotFound.
func (db *DB) GetCacheKey(ctx context.Context, projectID, key string) (CacheKey, error) {
	k, err := scanCacheKey(db.reader(ctx).queryRow(`SELECT `+cacheKeyCols+` FROM cache_keys
		WHERE project_id = $1 AND key = $2`, projectID, key))
	return k, wrap("get cache key", err)
}

// FindCacheKey returns the first of keys that the project's cache has: a
// key that is there exactly, else, with prefix, the newest stored key
// that starts with it (as Semaphore's cache restore). ErrNotFound when
// none matches.
func (db *DB) FindCacheKey(ctx context.Context, projectID string, keys []string, prefix bool) (CacheKey, error) {
	tx := db.reader(ctx)
	for _, key := range keys {
		if key == "" {
			continue
		}
		k, err := scanCacheKey(tx.queryRow(`SELECT `+cacheKeyCols+` FROM cache_keys
			WHERE project_id = $1 AND key = $2`, projectID, key))
		if err == nil || !prefix {
			if err == nil {
				return k, nil
			}
			if err = wrap("find cache key", err); !isNotFound(err) {
				return CacheKey{}, err
			}
			continue
		}
		if err = wrap("find cache key", err); !isNotFound(err) {
			return CacheKey{}, err
		}
		k, err = scanCacheKey(tx.queryRow(`SELECT `+cacheKeyCols+` FROM cache_keys
			WHERE project_id = $1 AND substr(key, 1, length(CAST($2 AS TEXT))) = CAST($2 AS TEXT)
			ORDER BY stored_at DESC, key LIMIT 1`, projectID, key))
		if err == nil {
			return k, nil
		}
		if err = wrap("find cache key", err); !isNotFound(err) {
			return CacheKey{}, err
		}
	}
	return CacheKey{}, wrap("find cache key", ErrNotFound)
}

// TouchCacheKey records that key was restored at at.
func (db *DB) TouchCacheKey(ctx context.Context, projectID, key string, at time.Time) error {
	return db.Tx(ctx, func(tx *Tx) error {
		return tx.execOne("touch cache key", `UPDATE cache_keys SET accessed_at = $3
			WHERE project_id = $1 AND key = $2`, projectID, key, tx.ts(at))
	})
}

// AddCacheKey adds k to its project's cache unless the key is there
// (then added is false and nothing changes), and evicts the least
// recently used other keys until the cache holds at most budget bytes.
// The caller deletes the evicted keys' objects.
func (db *DB) AddCacheKey(ctx context.Context, k CacheKey, budget int64) (added bool, evicted []CacheKey, err error) {
	err = db.Tx(ctx, func(tx *Tx) error {
		added, evicted = false, nil
		res, err := tx.exec(`INSERT INTO cache_keys (`+cacheKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (project_id, key) DO NOTHING`,
			k.ProjectID, k.Key, k.BlobKey, k.Size, tx.ts(k.StoredAt), tx.ts(k.AccessedAt))
		if err != nil {
			return wrap("add cache key", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return wrap("add cache key", err)
		} else if n == 0 {
			return nil
		}
		added = true
		// Most recently used first: what is past the budget goes.
		others, err := collect(tx, scanCacheKey, `SELECT `+cacheKeyCols+` FROM cache_keys
			WHERE project_id = $1 AND key <> $2 ORDER BY accessed_at DESC, stored_at DESC, key`+tx.forUpdate(), k.ProjectID, k.Key)
		if err != nil {
			return wrap("add cache key", err)
		}
		used := k.Size
		for _, o := range others {
			if used+o.Size <= budget {
				used += o.Size
				continue
			}
			if _, err := tx.exec(`DELETE FROM cache_keys WHERE project_id = $1 AND key = $2`, o.ProjectID, o.Key); err != nil {
				return wrap("evict cache key", err)
			}
			evicted = append(evicted, o)
		}
		return nil
	})
	return added, evicted, err
}

// DeleteCacheKey deletes a key and returns it; ErrNotFound if it is not
// there. The caller deletes its object.
func (db *DB) DeleteCacheKey(ctx context.Context, projectID, key string) (CacheKey, error) {
	var k CacheKey
	err := db.Tx(ctx, func(tx *Tx) error {
		var err error
		k, err = scanCacheKey(tx.queryRow(`DELETE FROM cache_keys WHERE project_id = $1 AND key = $2
			RETURNING `+cacheKeyCols, projectID, key))
		return wrap("delete cache key", err)
	})
	return k, err
}

// ClearCacheKeys deletes every key of a project's cache and returns
// them; the caller deletes their objects.
func (db *DB) ClearCacheKeys(ctx context.Context, projectID string) ([]CacheKey, error) {
	var ks []CacheKey
	err := db.Tx(ctx, func(tx *Tx) error {
		var err error
		ks, err = collect(tx, scanCacheKey, `DELETE FROM cache_keys WHERE project_id = $1 RETURNING `+cacheKeyCols, projectID)
		return wrap("clear cache", err)
	})
	return ks, err
}

// CacheBudget returns a project's cache size budget in bytes; 0 means
// the default.
func (db *DB) CacheBudget(ctx context.Context, projectID string) (int64, error) {
	var n int64
	err := db.reader(ctx).queryRow(`SELECT max_size FROM cache_budgets WHERE project_id = $1`, projectID).Scan(&n)
	if err = wrap("get cache budget", err); isNotFound(err) {
		return 0, nil
	}
	return n, err
}

// SetCacheBudget sets a project's cache size budget in bytes; 0 restores
// the default.
func (tx *Tx) SetCacheBudget(projectID string, size int64) error {
	if size == 0 {
		_, err := tx.exec(`DELETE FROM cache_budgets WHERE project_id = $1`, projectID)
		return wrap("set cache budget", err)
	}
	_, err := tx.exec(`INSERT INTO cache_budgets (project_id, max_size) VALUES ($1, $2)
		ON CONFLICT (project_id) DO UPDATE SET max_size = excluded.max_size`, projectID, size)
	return wrap("set cache budget", err)
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
