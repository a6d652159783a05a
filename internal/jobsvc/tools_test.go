package jobsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// refusal is an error the provider marks as the job's mistake.
type refusal string

func (r refusal) Error() string { return string(r) }
func (r refusal) Refused() bool { return true }

// fakeTools answers from a table; the agent's real provider (the tool
// cache) is tested end to end in internal/server.
type fakeTools map[string]error

func (f fakeTools) Provide(_ context.Context, req ToolRequest, progress io.Writer) (ToolResult, error) {
	if err := f[req.Name]; err != nil {
		return ToolResult{}, err
	}
	fmt.Fprintln(progress, "downloaded it")
	return ToolResult{Name: req.Name, Version: "1.22.5", Bin: []string{"/tools/go/bin"}, Installed: true}, nil
}

// TestToolProvide: the job's mistakes are 400 with the provider's
// message, the source's failures 502, a job without a tool cache 503;
// the request carries only kind, name and version.
func TestToolProvide(t *testing.T) {
	t.Parallel()
	svc, err := Start(Config{Scope: Scope{Project: "p", Workflow: "w", Job: "j"}, Tools: fakeTools{
		"cobol": refusal(`unknown language with a source "cobol"; available: go, node`),
		"node":  errors.New("download: unexpected EOF"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	c, err := NewClient(lookupEnv(svc.Env()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	res, err := c.ToolProvide(ctx, ToolRequest{Kind: "lang", Name: "go", Version: "1.22"})
	if err != nil || res.Version != "1.22.5" || res.Bin[0] != "/tools/go/bin" || res.Log != "downloaded it\n" {
		t.Errorf("go: %+v, %v", res, err)
	}
	_, err = c.ToolProvide(ctx, ToolRequest{Kind: "lang", Name: "cobol", Version: "1"})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || se.Message != `unknown language with a source "cobol"; available: go, node` {
		t.Errorf("cobol: %v", err)
	}
	if _, err = c.ToolProvide(ctx, ToolRequest{Kind: "lang", Name: "node", Version: "20"}); !IsStatus(err, http.StatusBadGateway) {
		t.Errorf("node: %v, want 502", err)
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/tools", nil, put(`{"kind":"npm","name":"x","version":"1","registry":"http://evil"}`))
	if !IsStatus(err, http.StatusBadRequest) {
		t.Errorf("a request with a registry: %v %v, want 400", resp, err)
	}

	none, err := Start(Config{Scope: Scope{Project: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	defer none.Close()
	c2, _ := NewClient(lookupEnv(none.Env()))
	if _, err := c2.ToolProvide(ctx, ToolRequest{Kind: "lang", Name: "go", Version: "1.22"}); !IsStatus(err, http.StatusServiceUnavailable) {
		t.Errorf("without a tool cache: %v, want 503", err)
	}
}

func lookupEnv(env []string) func(string) string {
	return func(k string) string {
		for _, kv := range env {
			if len(kv) > len(k) && kv[:len(k)] == k && kv[len(k)] == '=' {
				return kv[len(k)+1:]
			}
		}
		return ""
	}
}
