package agentapi

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/batonci/baton/internal/coverage"
)

// The coverage endpoint: a running job's code coverage, which the agent
// sends for the job (credential; the job must be assigned to the agent
// and running).
//
//	PUT  /jobs/{id}/coverage   merge the body (coverage.Report JSON) into
//	                           the job's coverage; answers the job's
//	                           coverage.Totals

// PutCoverage sends a job's coverage report.
func (c *Client) PutCoverage(ctx context.Context, jobID string, report io.Reader) (coverage.Totals, error) {
	var out coverage.Totals
	err := c.streamJSON(ctx, "coverage publish", http.MethodPut, "/jobs/"+url.PathEscape(jobID)+"/coverage", nil, report, &out)
	return out, err
}
