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

	"github.com/batonci/baton/internal/coverage"
)

// The coverage endpoint:
//
//	PUT  /v1/coverage   merge the body (a coverage.Report as JSON) into
//	                    this job's coverage; answers the job's
//	                    coverage.Totals
//
// The coverage is always the job's own (Scope.Job): no request can name
// another job's.

// CoverageStorage keeps the jobs' code coverage.
type CoverageStorage interface {
	PutJobCoverage(ctx context.Context, scope Scope, r io.Reader) (coverage.Totals, error)
}

func (s *Service) coveragePut(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Coverage == nil || s.cfg.Scope.Job == "" {
		writeError(w, http.StatusServiceUnavailable, "this job has no coverage store")
		return
	}
	tot, err := s.cfg.Coverage.PutJobCoverage(r.Context(), s.cfg.Scope, r.Body)
	if errors.Is(err, ErrBadReport) {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err != nil {
		storageError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, tot)
}

// PublishCoverage sends a coverage report (coverage.Report as JSON) to
// be merged into the job's; it returns the job's whole coverage.
func (c *Client) PublishCoverage(ctx context.Context, report []byte) (coverage.Totals, error) {
	return decode[coverage.Totals](c.do(ctx, http.MethodPut, "/v1/coverage", nil, func(w io.Writer) error { _, err := w.Write(report); return err }))
}

// LocalCoverage keeps coverage as files in Dir, one per job (`baton
// run`).
type LocalCoverage struct {
	Dir string
	mu  *sync.Mutex
}

// NewLocalCoverage returns a LocalCoverage in dir.
func NewLocalCoverage(dir string) LocalCoverage { return LocalCoverage{Dir: dir, mu: &sync.Mutex{}} }

var _ CoverageStorage = LocalCoverage{}

// PutJobCoverage merges r into the job's file.
func (l LocalCoverage) PutJobCoverage(ctx context.Context, scope Scope, r io.Reader) (coverage.Totals, error) {
	var in coverage.Report
	if err := json.NewDecoder(r).Decode(&in); err != nil {
		return coverage.Totals{}, fmt.Errorf("%w: %w", ErrBadReport, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	name := filepath.Join(l.Dir, scope.Job+".json")
	merged := coverage.Merge(in)
	if data, err := os.ReadFile(name); err == nil {
		var prev coverage.Report
		if json.NewDecoder(bytes.NewReader(data)).Decode(&prev) == nil {
			merged = coverage.Merge(prev, in)
		}
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return coverage.Totals{}, err
	}
	if err := writeJSONFile(name, merged); err != nil {
		return coverage.Totals{}, err
	}
	return merged.Totals(), nil
}
