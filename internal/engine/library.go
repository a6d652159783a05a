package engine

import (
	"context"
	"io/fs"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/pipeline"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/store"
)

// LibrarySource gives compiles the organisation's script libraries
// (internal/library): the commits to fix for a new workflow, and a
// library's files at a fixed commit.
type LibrarySource interface {
	// Pin resolves the head of every library's branch; fork says the
	// workflow is a pull request's from a fork (which gets only public
	// libraries).
	Pin(ctx context.Context, fork bool) ([]store.LibraryPin, error)
	// FS is the file tree of a library at a pinned commit.
	FS(ctx context.Context, pin store.LibraryPin) fs.FS
}

// libraryHint ends the diagnostic of an unknown library on a server with
// none.
const libraryHint = "an organisation admin adds one with: baton library add NAME --repo URL"

// newPins returns the library commits of a new workflow: a rebuild's are
// its original's (so it runs what the original ran, however the
// libraries moved since), any other's the branch heads now.
func (e *Engine) newPins(ctx context.Context, req *TriggerRequest) ([]store.LibraryPin, error) {
	if req.RerunOf != "" {
		return e.db.WorkflowLibraries(ctx, req.RerunOf)
	}
	if e.cfg.Libraries == nil {
		return nil, nil
	}
	return e.cfg.Libraries.Pin(ctx, req.PRFromFork && req.RefType == "pull-request")
}

// workflowPins returns the library commits fixed for a workflow; an
// error reading them gives none (compiles then say the library is
// unknown).
func (e *Engine) workflowPins(ctx context.Context, wf *ci.Workflow) []store.LibraryPin {
	pins, err := e.db.WorkflowLibraries(ctx, wf.ID)
	if err != nil {
		e.log.Error("read the workflow's libraries", "workflow", wf.ID, "err", err)
	}
	return pins
}

// loadOptions are plan's load options with the libraries at pins.
func (e *Engine) loadOptions(ctx context.Context, pins []store.LibraryPin) pipeline.Options {
	o := plan.LoadOptions()
	o.LibraryHint = libraryHint
	o.Libraries = map[string]fs.FS{}
	if e.cfg.Libraries != nil {
		for _, p := range pins {
			o.Libraries[p.Name] = e.cfg.Libraries.FS(ctx, p)
		}
	}
	return o
}

// libraryUses are the library files a compiled pipeline used, for the
// Library page.
func libraryUses(c *compiled, p *ci.Pipeline) []store.LibraryUse {
	var out []store.LibraryUse
	for _, f := range c.libraries {
		pin, ok := c.pins[f.Library]
		if !ok {
			continue
		}
		out = append(out, store.LibraryUse{PipelineID: p.ID, LibraryID: pin.LibraryID, Path: f.Path, SHA: pin.SHA, CreatedAt: p.CreatedAt})
	}
	return out
}
