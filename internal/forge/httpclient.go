package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// PostJSON posts v as JSON to url with the given headers and fails with a
// *StatusError unless the answer is 2xx. Adapters use it for status APIs.
// Redirects are not followed: the headers carry the forge token, which is
// only ever sent to the forge URL it was stored for.
func PostJSON(ctx context.Context, c *http.Client, url string, headers map[string]string, v any) error {
	if c == nil {
		c = http.DefaultClient
	}
	noRedirect := *c
	noRedirect.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("refusing to follow a redirect to %s: the forge token is only sent to the forge's URL", req.URL.Redacted())
	}
	c = &noRedirect
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "baton")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("post status: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return &StatusError{Code: resp.StatusCode, Body: string(bytes.TrimSpace(body))}
	}
	return nil
}
