package agent

import (
	"context"
	"errors"
	"io"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/jobsvc"
)

// serverLibraries gives a job the script libraries of its workflow, read
// by the server at the commit the workflow fixed (the repository's token
// stays there).
type serverLibraries struct {
	client *agentapi.Client
	job    string
}

var _ jobsvc.LibraryStorage = serverLibraries{}

func (s serverLibraries) Library(ctx context.Context, _ jobsvc.Scope, name string) (io.ReadCloser, string, error) {
	rc, commit, err := s.client.Library(ctx, s.job, name)
	var he *agentapi.HTTPError
	if errors.As(err, &he) && he.Status < 500 {
		return nil, "", &jobsvc.StatusError{Code: he.Status, Message: he.Message}
	}
	if err != nil {
		return nil, "", storageErr(err)
	}
	return rc, commit, nil
}
