package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/testreport"
)

// serverReports sends a job's test reports to the server, which keeps
// them with the job. Requests are made for the agent's own job; the
// server checks again that the job is the agent's and runs.
type serverReports struct {
	client *agentapi.Client
	job    string
}

var _ jobsvc.ReportStorage = serverReports{}

func (s serverReports) PutJobReport(ctx context.Context, _ jobsvc.Scope, r io.Reader) (testreport.Summary, error) {
	sum, err := s.client.PutTestReport(ctx, s.job, r)
	var he *agentapi.HTTPError
	if errors.As(err, &he) && he.Status == http.StatusBadRequest {
		return sum, fmt.Errorf("%w: %s", jobsvc.ErrBadReport, he.Message)
	}
	return sum, storageErr(err)
}

func (s serverReports) MergePipelineReport(ctx context.Context, _ jobsvc.Scope) (testreport.Summary, error) {
	sum, err := s.client.MergePipelineTestReport(ctx, s.job)
	return sum, storageErr(err)
}
