package apiv1

// GlobalTool is one of the organisation's global tools: an npm package or
// a Go command every job gets on its PATH, installed once per agent.
type GlobalTool struct {
	// Kind is "npm" or "go".
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ToolsView is GET /api/v1/tools and the answer of PUT /api/v1/tools.
type ToolsView struct {
	Tools []GlobalTool `json:"tools"`
}

// ToolsRequest is PUT /api/v1/tools (organisation admins): the tools, as
// NAME@VERSION (a name whose first path element has a dot is a Go
// command, others npm packages), replace the list; empty clears it.
type ToolsRequest struct {
	Tools []string `json:"tools"`
	// Kind, when set ("npm" or "go"), is the kind of every tool.
	Kind string `json:"kind,omitempty"`
}
