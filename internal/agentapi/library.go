package agentapi

import (
	"context"
	"io"
	"net/http"
	"net/url"
)

// The script library endpoint: the files of a library at the commit the
// job's workflow fixed, for a running job's `lib checkout` (credential;
// the job must be assigned to the agent and running).
//
//	GET /jobs/{id}/libraries/{name}  a tar archive of the files; the
//	                                 commit in HeaderLibraryCommit. 404
//	                                 names the workflow's libraries; 403
//	                                 says why one is withheld (a pull
//	                                 request from a fork)

// HeaderLibraryCommit carries the commit a library archive is of.
const HeaderLibraryCommit = "Baton-Library-Commit"

// Library returns the tar archive of a library's files for a job and the
// commit it is of; close it.
func (c *Client) Library(ctx context.Context, jobID, name string) (io.ReadCloser, string, error) {
	resp, err := c.stream(ctx, "lib checkout", http.MethodGet, "/jobs/"+url.PathEscape(jobID)+"/libraries/"+url.PathEscape(name), nil, nil, nil)
	if err != nil {
		return nil, "", err
	}
	return resp.Body, resp.Header.Get(HeaderLibraryCommit), nil
}
