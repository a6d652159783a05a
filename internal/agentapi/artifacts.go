package agentapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ArtifactRef names an artifact a job reaches: its scope ("job",
// "workflow" or "project"), the ID of the job or workflow it belongs to
// ("" for the requesting job's own, and for the project), and its path
// relative to the scope.
type ArtifactRef struct {
	Scope, ID, Path string
}

func (c *Client) artifactURL(jobID string, a ArtifactRef, q url.Values) string {
	segs := strings.Split(a.Path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	if a.ID != "" {
		q.Set("id", a.ID)
	}
	u := c.base + Prefix + "/jobs/" + url.PathEscape(jobID) + "/artifacts/" + url.PathEscape(a.Scope) + "/" + strings.Join(segs, "/")
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// artifactRequest sends one artifact request for jobID and returns the
// response if it is a 2xx; anything else is an *HTTPError.
func (c *Client) artifactRequest(ctx context.Context, op, method, u string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, &requestError{op: op, err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-tar")
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
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, responseError(op, resp, data)
	}
	return resp, nil
}

// ArtifactExists reports whether the artifact is there; the job's scope
// is checked by the server.
func (c *Client) ArtifactExists(ctx context.Context, jobID string, a ArtifactRef) (bool, error) {
	resp, err := c.artifactRequest(ctx, "artifact stat", http.MethodGet, c.artifactURL(jobID, a, url.Values{"stat": {"1"}}), nil)
	if he, ok := err.(*HTTPError); ok && he.Status == http.StatusNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return true, nil
}

// PushArtifact streams a tree stream (see jobsvc.WriteTree) to the
// server. Without force an existing artifact is a 409 *HTTPError.
func (c *Client) PushArtifact(ctx context.Context, jobID string, a ArtifactRef, tree io.Reader, force bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	resp, err := c.artifactRequest(ctx, "artifact push", http.MethodPut, c.artifactURL(jobID, a, q), io.NopCloser(tree))
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// PullArtifact streams the artifact's tree stream from the server to w.
func (c *Client) PullArtifact(ctx context.Context, jobID string, a ArtifactRef, w io.Writer) error {
	resp, err := c.artifactRequest(ctx, "artifact pull", http.MethodGet, c.artifactURL(jobID, a, url.Values{}), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// A large buffer: the job service's answer is written in large
	// chunks, which its client reads faster.
	if _, err := io.CopyBuffer(struct{ io.Writer }{w}, resp.Body, make([]byte, 1<<20)); err != nil {
		return fmt.Errorf("artifact pull: %w", err)
	}
	return nil
}

// YankArtifact deletes the artifact.
func (c *Client) YankArtifact(ctx context.Context, jobID string, a ArtifactRef) error {
	resp, err := c.artifactRequest(ctx, "artifact yank", http.MethodDelete, c.artifactURL(jobID, a, url.Values{}), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
