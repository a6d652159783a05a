package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
)

// forkSecrets is a SecretSource that also says which secrets allow forks.
type forkSecrets struct {
	secrets
	allow map[string]bool
}

func (s forkSecrets) ForkAllowed(ctx context.Context, projectID string, names []string) (map[string]bool, error) {
	if _, _, err := s.Resolve(ctx, projectID, names); err != nil {
		return nil, err
	}
	return s.allow, nil
}

var _ engine.ForkPolicy = forkSecrets{}

func TestForkPullRequestsGetOnlyAllowedSecrets(t *testing.T) {
	const yaml = `version: v1.0
name: Fork
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    task:
      secrets:
        - name: aws
        - name: public-token
      jobs:
        - name: test
          commands: [make test]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		src := forkSecrets{
			secrets: secrets{
				"aws":          {{Name: "AWS_KEY", Value: "aws-secret-value"}},
				"public-token": {{Name: "TOKEN", Value: "token-value"}},
			},
			allow: map[string]bool{"public-token": true},
		}
		for _, tc := range []struct {
			name string
			fork bool
		}{
			{"same repository", false},
			{"fork", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnvWith(t, dialect, map[string]string{pipelineFile: yaml}, src)
				sha := e.repo.Git("rev-parse", "HEAD")
				wf, err := e.eng.Trigger(t.Context(), engine.TriggerRequest{
					Project: e.proj, Trigger: ci.TriggerPR, RefType: "pull-request", Branch: "main",
					PR: "7", PRBranch: "feature", SHA: sha, PRFromFork: tc.fork,
				})
				if err != nil {
					t.Fatal(err)
				}
				if wf.PRFork != tc.fork {
					t.Errorf("workflow PRFork = %v, want %v", wf.PRFork, tc.fork)
				}
				p := e.pipeline(wf)
				a, err := e.eng.Assignment(t.Context(), e.start(p, "test", "agent-1"))
				if err != nil {
					t.Fatal(err)
				}
				if a.Project != e.proj.ID || a.Workflow != wf.ID {
					t.Errorf("assignment project %q workflow %q, want %q %q", a.Project, a.Workflow, e.proj.ID, wf.ID)
				}
				awsKey, hasAWS := envOf(a.Job, "AWS_KEY")
				token, _ := envOf(a.Job, "TOKEN")
				if token != "token-value" {
					t.Errorf("TOKEN = %q: a secret that allows forks must be delivered", token)
				}
				if tc.fork {
					if hasAWS || contains(a.Job.Secrets, "aws-secret-value") {
						t.Errorf("a fork got the aws secret: %q", awsKey)
					}
					want := []string{`secret "aws" withheld: this pull request comes from a fork`}
					if strings.Join(a.Job.Notices, "\n") != want[0] {
						t.Errorf("notices = %q, want %q", a.Job.Notices, want)
					}
					if !a.Fork {
						t.Error("the assignment of a fork's job does not say Fork: its job service would let it write the cache")
					}
				} else {
					if awsKey != "aws-secret-value" || len(a.Job.Notices) != 0 || a.Fork {
						t.Errorf("same-repository PR: AWS_KEY %q, notices %q, fork %v", awsKey, a.Job.Notices, a.Fork)
					}
				}
				// A rebuild of a fork's workflow is still a fork's.
				rb, err := e.eng.Rebuild(t.Context(), wf.ID, "ada")
				if err != nil {
					t.Fatal(err)
				}
				if rb.PRFork != tc.fork {
					t.Errorf("rebuild PRFork = %v, want %v", rb.PRFork, tc.fork)
				}
			})
		}
	})
}
