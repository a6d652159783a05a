package agentapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// HeaderAgentVersion is the request header that carries the agent's build
// version. Every request also carries `Authorization: Token <token>` (the
// agent token to register, the agent's credential after).
const HeaderAgentVersion = "X-Baton-Agent-Version"

// HeaderAgentID names the agent that dials a debug session stream.
const HeaderAgentID = "X-Baton-Agent-ID"

// maxResponse bounds the responses the client reads (a poll response
// carries jobs, files included).
const maxResponse = 256 << 20

// Client talks to a server's agent endpoints. It is safe for concurrent
// use. Requests have no timeout of their own (a poll is held open by the
// server): bound them with their context.
type Client struct {
	// AgentVersion is sent as X-Baton-Agent-Version with every request;
	// NewClient sets it to "unknown". Set it before the first request.
	AgentVersion string

	base  string // server URL without a trailing slash
	token string
	hc    *http.Client

	mu   sync.Mutex
	cred string // the agent's credential, once registered

	gzip Gzip // compresses request bodies
}

// SetCredential sets the credential that authenticates the agent's
// requests (but registration, which uses the token); Register sets it.
func (c *Client) SetCredential(cred string) {
	c.mu.Lock()
	c.cred = cred
	c.mu.Unlock()
}

// Credential returns the agent's credential, "" before registration.
func (c *Client) Credential() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cred
}

// authorization is the Authorization header of a request: the agent
// token to register, the credential for everything else (the token until
// the agent has one).
func (c *Client) authorization(register bool) string {
	if cred := c.Credential(); cred != "" && !register {
		return "Token " + cred
	}
	return "Token " + c.token
}

// NewClient returns a client of the server at serverURL (for example
// "https://ci.example.com", or with a path prefix) that authenticates with
// the agent token. A nil hc means a default client without timeouts.
func NewClient(serverURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{
		AgentVersion: "unknown",
		base:         strings.TrimRight(serverURL, "/"),
		token:        token,
		hc:           hc,
	}
}

// Register announces the agent and returns its identity and the server's
// timing. It keeps the credential the server returns for the agent's
// later requests; registering the same AgentID again sends the credential
// the client holds unless req has one.
func (c *Client) Register(ctx context.Context, req RegisterRequest) (*RegisterResponse, error) {
	if req.AgentID != "" && req.Credential == "" {
		req.Credential = c.Credential()
	}
	var resp RegisterResponse
	if err := c.do(ctx, "register", "/register", req, false, &resp); err != nil {
		return nil, err
	}
	if resp.Credential != "" {
		c.SetCredential(resp.Credential)
	}
	return &resp, nil
}

// Poll is the long poll and heartbeat. It returns when the server has
// instructions, or after the server's poll timeout with an empty response.
func (c *Client) Poll(ctx context.Context, req PollRequest) (*PollResponse, error) {
	var resp PollResponse
	if err := c.do(ctx, "poll", "/poll", req, false, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// SendLog uploads one log chunk of a job as gzip-compressed JSON. Sending
// a chunk the server already has is acknowledged again. If the server
// misses earlier chunks, the error is a *GapError saying which sequence
// number to send next.
func (c *Client) SendLog(ctx context.Context, jobID string, chunk LogChunk) (LogAck, error) {
	var ack LogAck
	err := c.do(ctx, "send log", "/jobs/"+url.PathEscape(jobID)+"/logs", chunk, true, &ack)
	return ack, err
}

// Finish reports a job's result. The server accepts it only once it has
// every chunk of the job's log; otherwise the error is a *GapError saying
// which sequence number to send next.
func (c *Client) Finish(ctx context.Context, jobID string, req FinishRequest) error {
	return c.do(ctx, "finish", "/jobs/"+url.PathEscape(jobID)+"/finish", req, false, nil)
}

// Disconnect tells the server the agent is leaving cleanly.
func (c *Client) Disconnect(ctx context.Context, agentID string) error {
	return c.do(ctx, "disconnect", "/disconnect", DisconnectRequest{AgentID: agentID}, false, nil)
}

// DialStream dials a debug session stream the server asked for (an HTTP
// upgrade, at st.URL when set, else at the server it polls) and returns
// the connection, spliced to the user's.
func (c *Client) DialStream(ctx context.Context, st Stream, agentID string) (io.ReadWriteCloser, error) {
	const op = "dial stream"
	base := c.base
	if st.URL != "" {
		base = strings.TrimRight(st.URL, "/")
	}
	streamID := st.ID
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+Prefix+"/streams/"+url.PathEscape(streamID), nil)
	if err != nil {
		return nil, &requestError{op: op, err: err}
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", StreamUpgrade)
	req.Header.Set(HeaderAgentID, agentID)
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
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, responseError(op, resp, data)
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: the upgraded connection is not writable", op)
	}
	return rwc, nil
}

// do POSTs body as JSON (gzip-compressed if gz) to the endpoint and decodes
// a 2xx response into out (if not nil).
func (c *Client) do(ctx context.Context, op, path string, body any, gz bool, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return &requestError{op: op, err: err}
	}
	if gz {
		// BestSpeed: logs compress well even so, and compression must
		// keep up with a job printing as fast as it can.
		payload, err = c.gzip.Compress(func(w io.Writer) error {
			_, err := w.Write(payload)
			return err
		})
		if err != nil {
			return &requestError{op: op, err: err}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+Prefix+path, bytes.NewReader(payload))
	if err != nil {
		return &requestError{op: op, err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", c.authorization(path == "/register"))
	req.Header.Set(HeaderAgentVersion, c.AgentVersion)
	req.Header.Set("User-Agent", "baton-agent/"+c.AgentVersion)

	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return &canceledError{op: op, err: context.Cause(ctx)}
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		if ctx.Err() != nil {
			return &canceledError{op: op, err: context.Cause(ctx)}
		}
		return fmt.Errorf("%s: read the response: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return responseError(op, resp, data)
	}
	if out == nil {
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%s: %w", op, errEmptyResponse)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode the response: %w", op, err)
	}
	return nil
}

var errEmptyResponse = errors.New("empty response")

// responseError turns a non-2xx response into a *GapError or an
// *HTTPError.
func responseError(op string, resp *http.Response, data []byte) error {
	var body Error
	jsonErr := json.Unmarshal(data, &body)
	if resp.StatusCode == http.StatusConflict && jsonErr == nil && body.Next != nil {
		return &GapError{Op: op, Next: *body.Next}
	}
	msg := body.Message
	if jsonErr != nil || msg == "" {
		msg = strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		if msg == "" || strings.HasPrefix(msg, "<") { // empty, or an HTML error page
			msg = http.StatusText(resp.StatusCode)
		}
	}
	return &HTTPError{Op: op, Status: resp.StatusCode, Message: msg}
}

// HTTPError is an error response from the server.
type HTTPError struct {
	// Op is the request that failed ("poll", "send log"...).
	Op string
	// Status is the HTTP status code.
	Status int
	// Message is the server's explanation (the Error body's message).
	Message string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s: server answered %d: %s", e.Op, e.Status, e.Message)
}

// GapError is a 409 answer to a log chunk or a finish: the server misses
// chunks, and Next is the sequence number it expects next.
type GapError struct {
	Op   string
	Next int
}

func (e *GapError) Error() string {
	return fmt.Sprintf("%s: the server expects log chunk %d next", e.Op, e.Next)
}

// requestError is a request the client could not even build.
type requestError struct {
	op  string
	err error
}

func (e *requestError) Error() string { return e.op + ": " + e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// canceledError is a request abandoned because its context ended; it
// wraps the context's cause.
type canceledError struct {
	op  string
	err error
}

func (e *canceledError) Error() string { return e.op + ": " + e.err.Error() }
func (e *canceledError) Unwrap() error { return e.err }

// IsRetryable reports whether sending the same request again may succeed:
// true for network failures, unreadable responses and server-side errors
// (5xx, 408, 429); false for the client's own errors (401, 403, 404, 422
// and other 4xx), for a *GapError (the caller must resend from Next), for
// a request that could not be built, and when the request's context ended.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var gap *GapError
	if errors.As(err, &gap) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status >= 500 || he.Status == http.StatusRequestTimeout || he.Status == http.StatusTooManyRequests
	}
	var re *requestError
	var ce *canceledError
	return !errors.As(err, &re) && !errors.As(err, &ce)
}
