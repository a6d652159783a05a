package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/coverage"
	"github.com/batonci/baton/internal/jobsvc"
)

// serverCoverage sends a job's code coverage to the server, which keeps
// it with the job. Requests are made for the agent's own job; the server
// checks again that the job is the agent's and runs.
type serverCoverage struct {
	client *agentapi.Client
	job    string
}

var _ jobsvc.CoverageStorage = serverCoverage{}

func (s serverCoverage) PutJobCoverage(ctx context.Context, _ jobsvc.Scope, r io.Reader) (coverage.Totals, error) {
	tot, err := s.client.PutCoverage(ctx, s.job, r)
	var he *agentapi.HTTPError
	if errors.As(err, &he) && he.Status == http.StatusBadRequest {
		return tot, fmt.Errorf("%w: %s", jobsvc.ErrBadReport, he.Message)
	}
	return tot, storageErr(err)
}
