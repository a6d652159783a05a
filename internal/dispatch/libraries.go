package dispatch

import (
	"context"
	"io"
	"net/http"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
)

// Script libraries: the agent endpoint of agentapi/library.go, behind a
// job's `lib checkout`. The request must come from the agent the job is
// assigned to, while the job runs; the library is read at the commit the
// job's workflow fixed, so a job reads only its own organisation's
// libraries, as its pipelines did (a pull request from a fork only the
// public ones, see library.Service.Pin). The repository's token stays on
// the server: the job gets the files.

// Libraries gives the files of a library at a pinned commit
// (internal/library).
type Libraries interface {
	ArchivePin(ctx context.Context, pin store.LibraryPin, w io.Writer) error
}

func (d *Dispatcher) routeLibraries(mux *http.ServeMux) {
	mux.HandleFunc("GET "+agentapi.Prefix+"/jobs/{id}/libraries/{name}", d.handleLibrary)
}

func (d *Dispatcher) handleLibrary(w http.ResponseWriter, r *http.Request) {
	pin, err := d.libraryPin(r)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set(agentapi.HeaderLibraryCommit, pin.SHA)
	// Once the archive has started, an error can only cut it short: the
	// agent checks the tar's end.
	if err := d.cfg.Libraries.ArchivePin(r.Context(), pin, w); err != nil {
		d.cfg.Logger.Warn("library archive", "library", pin.Name, "job", r.PathValue("id"), "err", err)
	}
}

// libraryPin authenticates the agent and returns the pin of the library
// the running job asks for.
func (d *Dispatcher) libraryPin(r *http.Request) (store.LibraryPin, error) {
	ac, err := d.authenticateAgent(r)
	if err != nil {
		return store.LibraryPin{}, err
	}
	j, err := d.jobFor(r, ac)
	if err != nil {
		return store.LibraryPin{}, err
	}
	if j.State != ci.StateRunning && j.State != ci.StateStopping {
		return store.LibraryPin{}, errorf(http.StatusConflict, "job %s is %s: only a running job checks out libraries", j.ID, j.State)
	}
	if d.cfg.Libraries == nil {
		return store.LibraryPin{}, errorf(http.StatusServiceUnavailable, "this server has no script libraries")
	}
	p, err := d.db.GetPipeline(r.Context(), j.PipelineID)
	if err != nil {
		return store.LibraryPin{}, err
	}
	pins, err := d.db.WorkflowLibraries(r.Context(), p.WorkflowID)
	if err != nil {
		return store.LibraryPin{}, err
	}
	name := r.PathValue("name")
	var names []string
	for _, pin := range pins {
		if pin.Name == name {
			if pin.SHA == "" {
				return store.LibraryPin{}, errorf(http.StatusForbidden, "library %s: %s", name, pin.Error)
			}
			return pin, nil
		}
		names = append(names, pin.Name)
	}
	return store.LibraryPin{}, errorf(http.StatusNotFound, "%s", unknownLibrary(name, names))
}

// unknownLibrary says a library is not one of the workflow's.
func unknownLibrary(name string, names []string) string {
	msg := "there is no library \"" + name + "\""
	if len(names) == 0 {
		return msg + " for this workflow (its organisation had none when it was created)"
	}
	msg += "; this workflow's libraries are "
	for i, n := range names {
		if i > 0 {
			msg += ", "
		}
		msg += n
	}
	return msg
}
