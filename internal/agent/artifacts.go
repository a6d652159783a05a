package agent

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/jobsvc"
)

// serverArtifacts keeps a job's artifacts on the server (which keeps them
// in its object storage), so that a job on any agent sees what a job on
// another pushed. Every request is made for the job, with the agent's
// credential; the server checks again what the job may reach.
type serverArtifacts struct {
	client *agentapi.Client
	job    string
}

var _ jobsvc.ArtifactStorage = serverArtifacts{}

func ref(a jobsvc.Artifact) agentapi.ArtifactRef {
	return agentapi.ArtifactRef{Scope: a.Scope, ID: a.ID, Path: a.Path}
}

// storageErr turns the server's 404 and 409 into the job service's
// errors; other errors keep the server's message.
func storageErr(err error) error {
	var he *agentapi.HTTPError
	if errors.As(err, &he) {
		switch he.Status {
		case http.StatusNotFound:
			return jobsvc.ErrNotFound
		case http.StatusConflict:
			if he.Message == "already exists" {
				return jobsvc.ErrExists
			}
		}
		return errors.New(he.Message)
	}
	return err
}

func (s serverArtifacts) Exists(ctx context.Context, a jobsvc.Artifact) (bool, error) {
	ok, err := s.client.ArtifactExists(ctx, s.job, ref(a))
	return ok, storageErr(err)
}

func (s serverArtifacts) Put(ctx context.Context, a jobsvc.Artifact, r io.Reader, force bool) error {
	return storageErr(s.client.PushArtifact(ctx, s.job, ref(a), r, force))
}

func (s serverArtifacts) Get(ctx context.Context, a jobsvc.Artifact, w io.Writer) error {
	return storageErr(s.client.PullArtifact(ctx, s.job, ref(a), w))
}

func (s serverArtifacts) Delete(ctx context.Context, a jobsvc.Artifact) error {
	return storageErr(s.client.YankArtifact(ctx, s.job, ref(a)))
}
