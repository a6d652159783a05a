package jobsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrUnavailable is returned by NewClient when the job has no service.
var ErrUnavailable = errors.New(SocketVar + " is not set")

// StatusError is an error answer from the service.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// IsStatus reports whether err is an answer with status code.
func IsStatus(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}

// Client talks to a job's service; the toolbox's commands use it.
type Client struct {
	hc    *http.Client
	token string
}

// NewClient returns a client for the service named by the job's
// environment (getenv looks a variable up), or ErrUnavailable.
func NewClient(getenv func(string) string) (*Client, error) {
	socket := getenv(SocketVar)
	if socket == "" {
		return nil, ErrUnavailable
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		// A refusal arrives before the body is sent.
		ExpectContinueTimeout: 30 * time.Second,
		DisableCompression:    true,
	}
	return &Client{hc: &http.Client{Transport: tr}, token: getenv(TokenVar)}, nil
}

// do sends a request; answers other than 2xx are *StatusError. body, if
// not nil, is called to write the request body as it is sent.
func (c *Client) do(ctx context.Context, method, p string, q url.Values, body func(io.Writer) error) (*http.Response, error) {
	u := "http://jobsvc" + p
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	var werr chan error
	if body != nil {
		pr, pw := io.Pipe()
		werr = make(chan error, 1)
		go func() {
			err := body(pw)
			pw.CloseWithError(err)
			werr <- err
		}()
		defer pr.Close()
		rd = pr
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := c.hc.Do(req)
	if body != nil {
		if rd, ok := rd.(*io.PipeReader); ok {
			rd.Close() // the writer stops if the body was not all read
		}
		if e := <-werr; e != nil && !errors.Is(e, io.ErrClosedPipe) && (err != nil || resp.StatusCode < 300) {
			if resp != nil {
				resp.Body.Close()
			}
			return nil, e
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the job service: %w", err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e Error
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
			if e.Message == "" {
				e.Message = resp.Status
			}
		}
		return nil, &StatusError{Code: resp.StatusCode, Message: e.Message}
	}
	return resp, nil
}

// keyPath is the path of a key; "." and "..", which a URL cannot carry as
// a path segment, are escaped whole (and refused by the service).
func keyPath(key string) string {
	if key == "." || key == ".." {
		return "/v1/cache/" + strings.ReplaceAll(key, ".", "%2E")
	}
	return "/v1/cache/" + url.PathEscape(key)
}

func artifactPath(scope, p string) string {
	var b strings.Builder
	b.WriteString("/v1/artifacts/" + url.PathEscape(scope))
	for _, seg := range strings.Split(p, "/") {
		b.WriteString("/" + url.PathEscape(seg))
	}
	return b.String()
}

// CacheList lists the cache's keys in order (SortStoreTime...).
func (c *Client) CacheList(ctx context.Context, order string) ([]CacheEntry, error) {
	return decode[[]CacheEntry](c.do(ctx, http.MethodGet, "/v1/cache", url.Values{"sort_by": {order}}, nil))
}

// CacheUsage returns the space the cache uses and its budget (maxSize,
// when the cache has none of its own; 0: the default).
func (c *Client) CacheUsage(ctx context.Context, maxSize int64) (CacheUsage, error) {
	q := url.Values{"usage": {"1"}}
	if maxSize > 0 {
		q.Set("max_size", strconv.FormatInt(maxSize, 10))
	}
	return decode[CacheUsage](c.do(ctx, http.MethodGet, "/v1/cache", q, nil))
}

// decode reads the JSON answer of a successful call into a T.
func decode[T any](resp *http.Response, err error) (T, error) {
	var v T
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, fmt.Errorf("the job service: %w", err)
	}
	return v, nil
}

// CacheHas reports whether key is in the cache.
func (c *Client) CacheHas(ctx context.Context, key string) (bool, error) {
	resp, err := c.do(ctx, http.MethodGet, keyPath(key), url.Values{"stat": {"1"}}, nil)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return true, nil
}

// CacheRestore returns the archive of key.
func (c *Client) CacheRestore(ctx context.Context, key string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, http.MethodGet, keyPath(key), nil, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// CacheStore stores the archive that write writes under key, evicting
// keys in order (SortStoreTime...) to stay under maxSize bytes (0: the
// service's default).
func (c *Client) CacheStore(ctx context.Context, key string, maxSize int64, order string, write func(io.Writer) error) (CacheStored, error) {
	q := url.Values{"cleanup_by": {order}}
	if maxSize > 0 {
		q.Set("max_size", strconv.FormatInt(maxSize, 10))
	}
	return decode[CacheStored](c.do(ctx, http.MethodPut, keyPath(key), q, write))
}

// CacheDelete deletes key and returns whether it was there.
func (c *Client) CacheDelete(ctx context.Context, key string) (bool, error) {
	resp, err := c.do(ctx, http.MethodDelete, keyPath(key), nil, nil)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return true, nil
}

// StartWorkspace asks for the job's working copy to be made, if it is not
// being made already; its ready file (BATON_WORKSPACE_READY) says when it
// is there.
func (c *Client) StartWorkspace(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodPost, "/v1/workspace", nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// CacheClear deletes every key.
func (c *Client) CacheClear(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodDelete, "/v1/cache", nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// ArtifactExists reports whether path is in scope's artifacts (id: of
// another job or workflow of the project; "" for the job's own).
func (c *Client) ArtifactExists(ctx context.Context, scope, id, p string) (bool, error) {
	q := idQuery(id)
	q.Set("stat", "1")
	resp, err := c.do(ctx, http.MethodGet, artifactPath(scope, p), q, nil)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return true, nil
}

func idQuery(id string) url.Values {
	q := url.Values{}
	if id != "" {
		q.Set("id", id)
	}
	return q
}

// isNotFound reports whether err says that what was asked for is not there.
func isNotFound(err error) bool {
	return IsStatus(err, http.StatusNotFound)
}

// ArtifactPush stores the tree stream that write writes as path.
func (c *Client) ArtifactPush(ctx context.Context, scope, p string, force bool, write func(io.Writer) error) error {
	var q url.Values
	if force {
		q = url.Values{"force": {"1"}}
	}
	resp, err := c.do(ctx, http.MethodPut, artifactPath(scope, p), q, write)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// ArtifactPull returns path's tree stream.
func (c *Client) ArtifactPull(ctx context.Context, scope, id, p string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, http.MethodGet, artifactPath(scope, p), idQuery(id), nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ArtifactYank deletes path.
func (c *Client) ArtifactYank(ctx context.Context, scope, p string) error {
	resp, err := c.do(ctx, http.MethodDelete, artifactPath(scope, p), nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// ContextGet returns key's value from the first of the pipeline contexts
// ids (current first) that has it.
func (c *Client) ContextGet(ctx context.Context, ids []string, key string) (string, bool, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/context/"+url.PathEscape(key), url.Values{"ids": {strings.Join(ids, ",")}}, nil)
	if isNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, ContextValueLimit+1))
	if err != nil {
		return "", false, fmt.Errorf("the job service: %w", err)
	}
	return string(data), true, nil
}

// ContextPut sets key in the pipeline context id.
func (c *Client) ContextPut(ctx context.Context, id, key, value string) error {
	resp, err := c.do(ctx, http.MethodPut, "/v1/context/"+url.PathEscape(key), url.Values{"ids": {id}}, put(value))
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// ContextDelete hides key in the pipeline context id.
func (c *Client) ContextDelete(ctx context.Context, id, key string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/v1/context/"+url.PathEscape(key), url.Values{"ids": {id}}, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func put(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}
