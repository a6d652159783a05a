package agentapi_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/google/go-cmp/cmp"
)

// request is what the test server saw.
type request struct {
	Method, Path, Auth, Version, Encoding string
	Body                                  string
}

// server answers every request with the handler's status and body, and
// records the request (its body decompressed).
func server(t *testing.T, status int, body string) (*agentapi.Client, <-chan request) {
	t.Helper()
	seen := make(chan request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("gzip body: %v", err)
				return
			}
			rd = zr
		}
		b, _ := io.ReadAll(rd)
		seen <- request{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get(agentapi.HeaderAgentVersion), r.Header.Get("Content-Encoding"), string(b)}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c := agentapi.NewClient(srv.URL+"/", "s3cret", srv.Client())
	c.AgentVersion = "1.2.3"
	return c, seen
}

func TestClientRequests(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	zero := 0
	tests := []struct {
		name     string
		respond  string
		call     func(c *agentapi.Client) (any, error)
		wantPath string
		wantBody string
		wantGzip bool
		want     any
	}{
		{
			name:    "register",
			respond: `{"agent_id":"a1","poll_timeout":30000,"lost_after":15000}`,
			call: func(c *agentapi.Client) (any, error) {
				return c.Register(ctx, agentapi.RegisterRequest{AgentID: "old", Name: "n", Type: "t", Slots: 2})
			},
			wantPath: "/agent/v1/register",
			wantBody: `{"agent_id":"old","name":"n","type":"t","slots":2,"version":"","hostname":"","os":"","arch":"","executors":null}`,
			want:     &agentapi.RegisterResponse{AgentID: "a1", PollTimeout: 30000, LostAfter: 15000},
		},
		{
			name:    "poll",
			respond: `{"assign":[{"job_id":"j1","job":{"name":"build"}}],"cancel":[{"job_id":"j2","reason":"user"}]}`,
			call: func(c *agentapi.Client) (any, error) {
				return c.Poll(ctx, agentapi.PollRequest{AgentID: "a1", FreeSlots: 1, Running: []string{"j2"}})
			},
			wantPath: "/agent/v1/poll",
			wantBody: `{"agent_id":"a1","free_slots":1,"running":["j2"]}`,
		},
		{
			name:    "send log",
			respond: `{"next":4}`,
			call: func(c *agentapi.Client) (any, error) {
				return c.SendLog(ctx, "j/1", agentapi.LogChunk{Seq: 3, Events: []ci.Event{{Kind: ci.EventCmdOutput, Output: "hi\n", ExitCode: &zero}}})
			},
			wantPath: "/agent/v1/jobs/j%2F1/logs",
			wantBody: `{"seq":3,"events":[{"event":"cmd_output","timestamp":-62135596800.000,"output":"hi\n","exit_code":0}]}`,
			wantGzip: true,
			want:     agentapi.LogAck{Next: 4},
		},
		{
			name:    "finish",
			respond: `{}`,
			call: func(c *agentapi.Client) (any, error) {
				return nil, c.Finish(ctx, "j1", agentapi.FinishRequest{Result: ci.ResultStopped, Reason: ci.ReasonUser, Chunks: 4})
			},
			wantPath: "/agent/v1/jobs/j1/finish",
			wantBody: `{"result":"stopped","result_reason":"user","chunks":4}`,
		},
		{
			name:    "disconnect",
			respond: ``,
			call: func(c *agentapi.Client) (any, error) {
				return nil, c.Disconnect(ctx, "a1")
			},
			wantPath: "/agent/v1/disconnect",
			wantBody: `{"agent_id":"a1"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, seen := server(t, http.StatusOK, tt.respond)
			got, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			r := <-seen
			if r.Method != http.MethodPost || r.Auth != "Token s3cret" || r.Version != "1.2.3" {
				t.Errorf("request = %s, auth %q, version %q", r.Method, r.Auth, r.Version)
			}
			if got, want := r.Path, tt.wantPath; got != want {
				t.Errorf("path = %q, want %q", got, want)
			}
			if (r.Encoding == "gzip") != tt.wantGzip {
				t.Errorf("Content-Encoding = %q, want gzip %v", r.Encoding, tt.wantGzip)
			}
			if r.Body != tt.wantBody {
				t.Errorf("body = %s\nwant   %s", r.Body, tt.wantBody)
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("response mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestClientPollDecodesAssignments(t *testing.T) {
	t.Parallel()
	c, _ := server(t, http.StatusOK, `{"assign":[{"job_id":"j1","job":{"name":"build","commands":["make"]},"checkout":{"url":"file:///r","sha":"abc","repo_name":"r"}}],"cancel":[{"job_id":"j2","reason":"user"}],"reregister":true}`)
	got, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Assign) != 1 || got.Assign[0].JobID != "j1" || got.Assign[0].Job.Name != "build" ||
		got.Assign[0].Checkout == nil || got.Assign[0].Checkout.SHA != "abc" {
		t.Errorf("Assign = %+v", got.Assign)
	}
	if diff := cmp.Diff([]agentapi.Cancel{{JobID: "j2", Reason: ci.ReasonUser}}, got.Cancel); diff != "" {
		t.Errorf("Cancel mismatch (-want +got):\n%s", diff)
	}
	if !got.Reregister {
		t.Error("Reregister = false")
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      string
		call      func(context.Context, *agentapi.Client) error
		wantGap   int // -1: no gap
		wantHTTP  int // 0: not an HTTPError
		wantMsg   string
		retryable bool
	}{
		{"log gap", 409, `{"message":"gap","next":2}`, sendLog, 2, 0, "", false},
		{"finish gap", 409, `{"message":"missing chunks","next":7}`, finish, 7, 0, "", false},
		{"conflict without next", 409, `{"message":"job already finished"}`, finish, -1, 409, "job already finished", false},
		{"unauthorized", 401, `{"message":"bad token"}`, poll, -1, 401, "bad token", false},
		{"forbidden", 403, `{"message":"nope"}`, poll, -1, 403, "nope", false},
		{"not found", 404, `{"message":"no such job"}`, sendLog, -1, 404, "no such job", false},
		{"unprocessable", 422, `{"message":"bad request"}`, poll, -1, 422, "bad request", false},
		{"server error", 500, `{"message":"internal error"}`, poll, -1, 500, "internal error", true},
		{"bad gateway html", 502, `<html>bad gateway</html>`, poll, -1, 502, "Bad Gateway", true},
		{"unavailable text", 503, "try later\n", finish, -1, 503, "try later", true},
		{"too many requests", 429, `{"message":"slow down"}`, poll, -1, 429, "slow down", true},
		{"garbled success", 200, `{"assign":`, poll, -1, 0, "decode the response", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := server(t, tt.status, tt.body)
			err := tt.call(t.Context(), c)
			if err == nil {
				t.Fatal("no error")
			}
			var gap *agentapi.GapError
			if got := errors.As(err, &gap); got != (tt.wantGap >= 0) {
				t.Errorf("error %v: is a GapError %v, want %v", err, got, tt.wantGap >= 0)
			} else if got && gap.Next != tt.wantGap {
				t.Errorf("GapError.Next = %d, want %d", gap.Next, tt.wantGap)
			}
			var he *agentapi.HTTPError
			if got := errors.As(err, &he); got != (tt.wantHTTP != 0) {
				t.Errorf("error %v: is an HTTPError %v, want %v", err, got, tt.wantHTTP != 0)
			} else if got && (he.Status != tt.wantHTTP || he.Message != tt.wantMsg) {
				t.Errorf("HTTPError = %d %q, want %d %q", he.Status, he.Message, tt.wantHTTP, tt.wantMsg)
			}
			if tt.wantHTTP == 0 && tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %q, want it to say %q", err, tt.wantMsg)
			}
			if got := agentapi.IsRetryable(err); got != tt.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", err, got, tt.retryable)
			}
		})
	}
}

func TestClientNetworkErrors(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and closes them at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	c := agentapi.NewClient("http://"+ln.Addr().String(), "t", nil)
	err = poll(t.Context(), c)
	if err == nil || !agentapi.IsRetryable(err) {
		t.Errorf("closed connection: err = %v, retryable %v; want a retryable error", err, agentapi.IsRetryable(err))
	}

	// Nothing listens.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln2.Addr().String()
	ln2.Close()
	c = agentapi.NewClient("http://"+addr, "t", nil)
	if err := poll(t.Context(), c); err == nil || !agentapi.IsRetryable(err) {
		t.Errorf("refused: err = %v, want a retryable error", err)
	}

	// The caller gave up.
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(errors.New("shutting down"))
	if err := poll(ctx, c); err == nil || agentapi.IsRetryable(err) || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("canceled: err = %v, want a non-retryable error carrying the cause", err)
	}
	if agentapi.IsRetryable(nil) {
		t.Error("IsRetryable(nil) = true")
	}
}

func TestGapErrorJSON(t *testing.T) {
	t.Parallel()
	// The server side of a gap, for reference: 409 with the Error body.
	next := 5
	b, _ := json.Marshal(agentapi.Error{Message: "gap", Next: &next})
	if got, want := string(b), `{"message":"gap","next":5}`; got != want {
		t.Errorf("Error JSON = %s, want %s", got, want)
	}
}

func poll(ctx context.Context, c *agentapi.Client) error {
	_, err := c.Poll(ctx, agentapi.PollRequest{AgentID: "a"})
	return err
}

func sendLog(ctx context.Context, c *agentapi.Client) error {
	_, err := c.SendLog(ctx, "j", agentapi.LogChunk{Seq: 5})
	return err
}

func finish(ctx context.Context, c *agentapi.Client) error {
	return c.Finish(ctx, "j", agentapi.FinishRequest{Result: ci.ResultPassed, Chunks: 5})
}
