package jobsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/batonci/baton/internal/testreport"
)

// The test report endpoints:
//
//	PUT  /v1/test-results            merge the body (a testreport.Result as
//	                                 gzipped JSON, testreport.Compress; or
//	                                 plain JSON) into this job's report;
//	                                 answers the job's testreport.Summary
//	POST /v1/test-results/pipeline   merge the reports of this job's
//	                                 pipeline's jobs into the pipeline's
//	                                 report; answers its summary (404 if no
//	                                 job published one)
//
// A report is always the job's own (Scope.Job): no request can name
// another job's.

// ReportStorage keeps the jobs' test reports. PutJobReport is given the
// request's body as it came (the service passes the job's bytes on
// untouched).
type ReportStorage interface {
	PutJobReport(ctx context.Context, scope Scope, r io.Reader) (testreport.Summary, error)
	MergePipelineReport(ctx context.Context, scope Scope) (testreport.Summary, error)
}

// ErrBadReport wraps a report that storage refuses as invalid (400).
var ErrBadReport = errors.New("bad report")

func (s *Service) reports(w http.ResponseWriter) (ReportStorage, bool) {
	if s.cfg.Reports == nil || s.cfg.Scope.Job == "" {
		writeError(w, http.StatusServiceUnavailable, "this job has no test report store")
		return nil, false
	}
	return s.cfg.Reports, true
}

func (s *Service) reportPut(w http.ResponseWriter, r *http.Request) {
	st, ok := s.reports(w)
	if !ok {
		return
	}
	sum, err := st.PutJobReport(r.Context(), s.cfg.Scope, r.Body)
	if errors.Is(err, ErrBadReport) {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err != nil {
		storageError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

func (s *Service) reportMerge(w http.ResponseWriter, r *http.Request) {
	st, ok := s.reports(w)
	if !ok {
		return
	}
	sum, err := st.MergePipelineReport(r.Context(), s.cfg.Scope)
	if err != nil {
		storageError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// PublishTestReport sends a report (testreport.Compress) to be merged
// into the job's; it returns the job's whole report's summary.
func (c *Client) PublishTestReport(ctx context.Context, report []byte) (testreport.Summary, error) {
	return decode[testreport.Summary](c.do(ctx, http.MethodPut, "/v1/test-results", nil, func(w io.Writer) error { _, err := w.Write(report); return err }))
}

// GenPipelineReport merges the reports of the job's pipeline's jobs.
func (c *Client) GenPipelineReport(ctx context.Context) (testreport.Summary, error) {
	return decode[testreport.Summary](c.do(ctx, http.MethodPost, "/v1/test-results/pipeline", nil, nil))
}

// LocalReports keeps reports as files in Dir, one per job (`baton run`).
type LocalReports struct {
	Dir string
	mu  *sync.Mutex
}

// NewLocalReports returns a LocalReports in dir.
func NewLocalReports(dir string) LocalReports { return LocalReports{Dir: dir, mu: &sync.Mutex{}} }

var _ ReportStorage = LocalReports{}

func (l LocalReports) path(job string) string { return filepath.Join(l.Dir, job+".json") }

// PutJobReport merges r into the job's file.
func (l LocalReports) PutJobReport(ctx context.Context, scope Scope, r io.Reader) (testreport.Summary, error) {
	received, err := testreport.Receive(r)
	in := received.Result
	if err != nil {
		return testreport.Summary{}, fmt.Errorf("%w: %w", ErrBadReport, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	merged := testreport.Merge(in)
	if data, err := os.ReadFile(l.path(scope.Job)); err == nil {
		if prev, err := testreport.Decode(bytes.NewReader(data)); err == nil {
			merged = testreport.Merge(prev, in)
		}
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return testreport.Summary{}, err
	}
	if err := writeJSONFile(l.path(scope.Job), merged); err != nil {
		return testreport.Summary{}, err
	}
	return merged.Summary(), nil
}

// MergePipelineReport merges every job's file into pipeline.json.
func (l LocalReports) MergePipelineReport(ctx context.Context, scope Scope) (testreport.Summary, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	files, _ := filepath.Glob(filepath.Join(l.Dir, "*.json"))
	var all []testreport.Result
	for _, f := range files {
		if filepath.Base(f) == "pipeline.json" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return testreport.Summary{}, err
		}
		r, err := testreport.Decode(bytes.NewReader(data))
		if err != nil {
			return testreport.Summary{}, fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, r)
	}
	if len(all) == 0 {
		return testreport.Summary{}, ErrNotFound
	}
	merged := testreport.Merge(all...)
	if err := writeJSONFile(filepath.Join(l.Dir, "pipeline.json"), merged); err != nil {
		return testreport.Summary{}, err
	}
	return merged.Summary(), nil
}

// writeJSONFile writes v to name through a temporary file.
func writeJSONFile(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
