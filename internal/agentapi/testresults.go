package agentapi

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/batonci/baton/internal/testreport"
)

// The test report endpoints: a running job's test reports, which the
// agent sends for the job (credential; the job must be assigned to the
// agent and running).
//
//	PUT  /jobs/{id}/test-results           merge the body (testreport.Result
//	                                       as the job sent it: gzipped JSON,
//	                                       testreport.Compress, or plain
//	                                       JSON) into the job's report;
//	                                       answers the job's testreport.Summary
//	POST /jobs/{id}/test-results/pipeline  merge the reports of the job's
//	                                       pipeline's jobs into the
//	                                       pipeline's report; its summary,
//	                                       or 404 when no job published one

func testResultsPath(jobID, sub string) string {
	return "/jobs/" + url.PathEscape(jobID) + "/test-results" + sub
}

// PutTestReport sends a job's report, the bytes as the job gave them.
func (c *Client) PutTestReport(ctx context.Context, jobID string, report io.Reader) (testreport.Summary, error) {
	var out testreport.Summary
	err := c.streamJSON(ctx, "test-results publish", http.MethodPut, testResultsPath(jobID, ""), nil, report, &out)
	return out, err
}

// MergePipelineTestReport merges the reports of the job's pipeline.
func (c *Client) MergePipelineTestReport(ctx context.Context, jobID string) (testreport.Summary, error) {
	var out testreport.Summary
	err := c.streamJSON(ctx, "test-results gen-pipeline-report", http.MethodPost, testResultsPath(jobID, "/pipeline"), nil, nil, &out)
	return out, err
}
