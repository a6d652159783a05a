package agentapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// The cache endpoints: a running job's project's cache, which the agent
// reaches for the job (credential; the job must be assigned to the agent
// and not finished). Keys travel in the query (key=K).
//
//	GET    /jobs/{id}/cache                   the keys, as JSON []CacheEntry, newest stored first
//	GET    /jobs/{id}/cache/key?key=K         K's CacheEntry, or 404
//	PUT    /jobs/{id}/cache/key?key=K         store the body (201, CacheStored; 200 if K exists)
//	DELETE /jobs/{id}/cache/key?key=K         204, or 404
//	DELETE /jobs/{id}/cache                   delete every key (204)
//	GET    /jobs/{id}/cache/usage             CacheUsage
//	GET    /jobs/{id}/cache/restore?key=K...  the archive of the first key
//	                                          that matches (exact=1: exactly;
//	                                          else also by prefix); 304 if
//	                                          If-None-Match names its ID
//
// A restore answers the key it found and its ID in HeaderCacheKey and
// HeaderCacheID. Store, delete and clear answer 403 for a pull request
// from a fork.

// The headers of a restore's answer.
const (
	HeaderCacheKey = "X-Baton-Cache-Key"
	HeaderCacheID  = "X-Baton-Cache-ID"
)

// DefaultCacheBudget is a project's cache size budget unless it sets
// another: that of Semaphore's hosted cache.
const DefaultCacheBudget = 9 << 30

// CacheEntry is one key of a project's cache.
type CacheEntry struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	// ID names what was stored: a key deleted and stored again has a new
	// ID, so a copy the agent keeps of an ID is the key's content.
	ID         string    `json:"id"`
	StoredAt   time.Time `json:"stored_at"`
	AccessedAt time.Time `json:"accessed_at"`
}

// CacheStored is the answer to a store.
type CacheStored struct {
	Stored bool  `json:"stored"`
	Size   int64 `json:"size"`
}

// CacheUsage is how much of its budget a project's cache uses.
type CacheUsage struct {
	Keys   int   `json:"keys"`
	Used   int64 `json:"used"`
	Budget int64 `json:"budget"`
}

func cachePath(jobID, sub string) string {
	return "/jobs/" + url.PathEscape(jobID) + "/cache" + sub
}

// stream sends a request with body (nil for none) and returns the answer
// when it is 2xx or one of also; anything else is an *HTTPError.
func (c *Client) stream(ctx context.Context, op, method, path string, q url.Values, hdr http.Header, body io.Reader, also ...int) (*http.Response, error) {
	u := c.base + Prefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, &requestError{op: op, err: err}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", c.authorization(false))
	req.Header.Set(HeaderAgentVersion, c.AgentVersion)
	req.Header.Set("User-Agent", "baton-agent/"+c.AgentVersion)
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &canceledError{op: op, err: context.Cause(ctx)}
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp, nil
	}
	for _, s := range also {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return nil, responseError(op, resp, data)
}

func (c *Client) streamJSON(ctx context.Context, op, method, path string, q url.Values, body io.Reader, out any) error {
	resp, err := c.stream(ctx, op, method, path, q, nil, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return fmt.Errorf("%s: decode the response: %w", op, err)
	}
	return nil
}

// CacheList lists the keys of a job's project's cache, newest stored
// first.
func (c *Client) CacheList(ctx context.Context, jobID string) ([]CacheEntry, error) {
	var out []CacheEntry
	err := c.streamJSON(ctx, "cache list", http.MethodGet, cachePath(jobID, ""), nil, nil, &out)
	return out, err
}

// CacheStat returns a key's entry; a missing key is an *HTTPError 404.
func (c *Client) CacheStat(ctx context.Context, jobID, key string) (CacheEntry, error) {
	var out CacheEntry
	err := c.streamJSON(ctx, "cache has_key", http.MethodGet, cachePath(jobID, "/key"), url.Values{"key": {key}}, nil, &out)
	return out, err
}

// CacheStore stores the archive r yields under key, streamed, unless the
// key exists.
func (c *Client) CacheStore(ctx context.Context, jobID, key string, r io.Reader) (CacheStored, error) {
	var out CacheStored
	err := c.streamJSON(ctx, "cache store", http.MethodPut, cachePath(jobID, "/key"), url.Values{"key": {key}}, r, &out)
	return out, err
}

// CacheDelete deletes key; a missing key is an *HTTPError 404.
func (c *Client) CacheDelete(ctx context.Context, jobID, key string) error {
	return c.streamJSON(ctx, "cache delete", http.MethodDelete, cachePath(jobID, "/key"), url.Values{"key": {key}}, nil, nil)
}

// CacheClear deletes every key of the project's cache.
func (c *Client) CacheClear(ctx context.Context, jobID string) error {
	return c.streamJSON(ctx, "cache clear", http.MethodDelete, cachePath(jobID, ""), nil, nil, nil)
}

// CacheUsage returns how much of its budget the cache uses.
func (c *Client) CacheUsage(ctx context.Context, jobID string) (CacheUsage, error) {
	var out CacheUsage
	err := c.streamJSON(ctx, "cache usage", http.MethodGet, cachePath(jobID, "/usage"), nil, nil, &out)
	return out, err
}

// CacheRestore opens the archive of the first of keys in the cache
// (exact: only exact matches; else also the newest key each is a prefix
// of). When have is the ID of what is found, the body is nil: the agent
// has it already. Nothing found is an *HTTPError 404.
func (c *Client) CacheRestore(ctx context.Context, jobID string, keys []string, exact bool, have string) (CacheEntry, io.ReadCloser, error) {
	q := url.Values{"key": keys}
	if exact {
		q.Set("exact", "1")
	}
	hdr := http.Header{}
	if have != "" {
		hdr.Set("If-None-Match", `"`+have+`"`)
	}
	resp, err := c.stream(ctx, "cache restore", http.MethodGet, cachePath(jobID, "/restore"), q, hdr, nil, http.StatusNotModified)
	if err != nil {
		return CacheEntry{}, nil, err
	}
	e := CacheEntry{Key: resp.Header.Get(HeaderCacheKey), ID: resp.Header.Get(HeaderCacheID), Size: resp.ContentLength}
	if resp.StatusCode == http.StatusNotModified {
		resp.Body.Close()
		return e, nil, nil
	}
	return e, resp.Body, nil
}
