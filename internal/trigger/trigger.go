// Package trigger turns git events into workflows: it polls repositories
// for new commits on branches and tags, and receives the webhooks of
// GitHub, GitLab and Gitea (internal/forge): pushes, and pull requests,
// built as the merge of their head into their base. Both record the last
// commit seen per ref with a compare-and-set in the store, so a push seen
// by a webhook and by polling, or by two servers polling, creates one
// workflow.
package trigger

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
)

// Repos lists a repository's refs in the mirror of the project of
// projectID; repocache.Projects implements it.
type Repos interface {
	ListRefs(ctx context.Context, projectID, url string) (map[string]string, error)
}

// Merger creates the merge commit of a pull request in the mirror of the
// project of projectID; repocache.Projects implements it.
type Merger interface {
	MergeCommit(ctx context.Context, projectID, url, baseSHA, headURL, headSHA string) (string, error)
}

// WebhookSecrets opens a project's sealed webhook secret;
// *vault.Vault implements it.
type WebhookSecrets interface {
	WebhookSecret(p *ci.Project) (secret.Value, error)
}

// Config wires the poller and the webhook handler.
type Config struct {
	Store  *store.DB
	Engine *engine.Engine
	Repos  Repos
	// Merger builds pull requests' merge commits; nil refuses pull
	// request events.
	Merger Merger
	// Secrets opens projects' sealed webhook secrets; nil serves no
	// webhook.
	Secrets WebhookSecrets
	Logger  *slog.Logger
	Now     func() time.Time
}

// Trigger polls projects and serves webhooks.
type Trigger struct {
	cfg  Config
	wake chan struct{}
}

// New returns a Trigger.
func New(cfg Config) *Trigger {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Trigger{cfg: cfg, wake: make(chan struct{}, 1)}
}

// Wake makes the poller look at the projects again now (a project was
// created or changed).
func (t *Trigger) Wake() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Run polls every project whose poll interval is set, each on its own
// schedule, until ctx ends.
func (t *Trigger) Run(ctx context.Context) error {
	next := map[string]time.Time{}
	for {
		projects, err := t.cfg.Store.ListProjects(ctx)
		if err != nil {
			t.cfg.Logger.Error("poll: list projects", "err", err)
		}
		now := t.cfg.Now()
		wait := time.Minute
		for _, p := range projects {
			if p.PollInterval <= 0 {
				delete(next, p.ID)
				continue
			}
			due, ok := next[p.ID]
			if !ok || !now.Before(due) {
				if err := t.Poll(ctx, p); err != nil && ctx.Err() == nil {
					t.cfg.Logger.Warn("poll failed", "project", p.Name, "err", err)
				}
				due = t.cfg.Now().Add(p.PollInterval)
				next[p.ID] = due
			}
			wait = min(wait, due.Sub(t.cfg.Now()))
		}
		timer := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-t.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// Poll compares a project's refs with the last ones seen and starts a
// workflow for every branch or tag that moved. The first poll of a project
// only records what is there.
func (t *Trigger) Poll(ctx context.Context, p *ci.Project) error {
	refs, err := t.cfg.Repos.ListRefs(ctx, p.ID, p.RepoURL)
	if err != nil {
		return err
	}
	seen, err := t.cfg.Store.GetRefs(ctx, p.ID)
	if err != nil {
		return err
	}
	first := len(seen) == 0
	for ref, sha := range refs {
		if !strings.HasPrefix(ref, "refs/heads/") && !strings.HasPrefix(ref, "refs/tags/") {
			continue
		}
		old, known := seen[ref]
		if known && old == sha {
			continue
		}
		won, err := t.cfg.Store.CompareAndSetRef(ctx, p.ID, ref, old, sha)
		if err != nil || !won || first {
			continue
		}
		t.push(ctx, p, ref, old, sha, "")
	}
	for ref := range seen {
		if !strings.HasPrefix(ref, "refs/heads/") && !strings.HasPrefix(ref, "refs/tags/") {
			continue // pull requests' heads, recorded by webhooks
		}
		if _, ok := refs[ref]; !ok {
			t.cfg.Store.CompareAndSetRef(ctx, p.ID, ref, seen[ref], "")
		}
	}
	return nil
}

// push starts the workflow of one pushed ref.
func (t *Trigger) push(ctx context.Context, p *ci.Project, ref, before, after, by string) (*ci.Workflow, error) {
	req := engine.TriggerRequest{Project: p, Trigger: ci.TriggerPush, SHA: after, TriggeredBy: by}
	if tag, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		req.RefType, req.Tag = "tag", tag
	} else {
		req.RefType, req.Branch = "branch", strings.TrimPrefix(ref, "refs/heads/")
		if before != "" && !zeroSHA(before) {
			req.CommitRange = before + "..." + after
		}
	}
	wf, err := t.cfg.Engine.Trigger(ctx, req)
	switch {
	case errors.Is(err, engine.ErrSkipCI):
		t.cfg.Logger.Info("push skipped: [skip ci]", "project", p.Name, "ref", ref)
	case err != nil:
		t.cfg.Logger.Error("trigger failed", "project", p.Name, "ref", ref, "err", err)
	default:
		t.cfg.Logger.Info("workflow created", "project", p.Name, "ref", ref, "workflow", wf.ID)
	}
	return wf, err
}

func zeroSHA(s string) bool { return strings.Trim(s, "0") == "" }
