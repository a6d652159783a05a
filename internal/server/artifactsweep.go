package server

import (
	"context"
	"errors"
	"time"

	"github.com/batonci/baton/internal/artifact"
)

// DefaultArtifactSweepEvery is how often artifact retention policies are
// applied unless Config.ArtifactSweepEvery says otherwise.
const DefaultArtifactSweepEvery = time.Hour

// sweepName names the artifact sweeper's row in the sweeps table.
const sweepName = "artifact-retention"

// sweepArtifacts applies the projects' artifact retention policies once
// per period across every server that shares the database: each server
// looks a few times per period, and the one whose conditional update of
// the sweep's next run succeeds sweeps (store.DB.ClaimSweep).
func (s *Server) sweepArtifacts(ctx context.Context) error {
	every := s.cfg.ArtifactSweepEvery
	if every <= 0 {
		every = DefaultArtifactSweepEvery
	}
	look := min(max(every/4, time.Second), 5*time.Minute)
	t := time.NewTicker(look)
	defer t.Stop()
	for {
		claimed, err := s.Store.ClaimSweep(ctx, sweepName, time.Now(), every)
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Error("claim the artifact sweep", "err", err)
		}
		if claimed {
			if n, err := s.SweepArtifacts(ctx, time.Now()); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Error("artifact retention sweep", "deleted", n, "err", err)
			} else if n > 0 {
				s.cfg.Logger.Info("artifact retention sweep", "deleted", n)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SweepArtifacts applies every project's artifact retention policy as of
// now and returns how many artifact files it deleted. (The servers call it
// once per period between them; tests call it directly.)
func (s *Server) SweepArtifacts(ctx context.Context, now time.Time) (int, error) {
	ids, err := s.Store.ProjectsWithRetention(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, id := range ids {
		rules, err := s.Store.ArtifactRetention(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rs := make([]artifact.RetentionRule, len(rules))
		for i, r := range rules {
			rs[i] = artifact.RetentionRule{Scope: r.Scope, Glob: r.Glob, MaxAge: r.MaxAge}
		}
		n, err := s.Artifacts.Sweep(ctx, id, rs, now)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}
