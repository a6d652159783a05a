package jobsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// ToolProvider provides language versions and tools from the agent's tool
// cache (internal/toolcache), installing what is missing: the cache is
// read-only to jobs, so they ask their service. It gets only what
// ToolRequest carries; the job names no URL, path or command.
type ToolProvider interface {
	// Provide returns the entry's directories for the job's PATH. An
	// error with a Refused() bool method that returns true is the job's
	// mistake (an unknown language, version or tool: 400); others are
	// the agent's or the source's (502). progress gets what the install
	// did, for the job's log.
	Provide(ctx context.Context, req ToolRequest, progress io.Writer) (ToolResult, error)
}

// ToolRequest asks for a language version (Kind "lang") or a tool (Kind
// "npm" or "go").
type ToolRequest struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ToolResult is a provided tool.
type ToolResult struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Bin are the directories to put in front of the job's PATH.
	Bin []string `json:"bin"`
	// Installed says it was installed for this request; Log says how.
	Installed bool   `json:"installed"`
	Source    string `json:"source,omitempty"`
	Verified  string `json:"verified,omitempty"`
	Log       string `json:"log,omitempty"`
}

// The tool endpoint:
//
//	POST /v1/tools   a ToolRequest; 200 with the ToolResult

const maxToolRequest = 4 << 10

func (s *Service) toolProvide(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Tools == nil {
		writeError(w, http.StatusServiceUnavailable, "this agent has no tool cache")
		return
	}
	var req ToolRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxToolRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "a tool request is {kind, name, version}: %v", err)
		return
	}
	var progress bytes.Buffer
	res, err := s.cfg.Tools.Provide(r.Context(), req, &progress)
	if err != nil {
		var refused interface{ Refused() bool }
		if errors.As(err, &refused) && refused.Refused() {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		writeError(w, http.StatusBadGateway, "%v", err)
		return
	}
	res.Log = progress.String()
	writeJSON(w, http.StatusOK, res)
}

// ToolProvide asks the agent for a language version or a tool.
func (c *Client) ToolProvide(ctx context.Context, req ToolRequest) (ToolResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return ToolResult{}, err
	}
	// A first download may take minutes.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	return decode[ToolResult](c.do(ctx, http.MethodPost, "/v1/tools", nil, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(body))
		return err
	}))
}
