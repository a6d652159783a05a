package engine_test

import (
	"strings"
	"testing"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/google/go-cmp/cmp"
)

func TestAssignmentCarriesContainers(t *testing.T) {
	const yaml = `version: v1.0
name: Containers
agent:
  machine:
    type: s1-test
  containers:
    - name: main
      image: registry.example.com/app:1
      env_vars:
        - name: MODE
          value: test
    - name: db
      image: postgres:16
      command: postgres -c fsync=off
      entrypoint: docker-entrypoint.sh
      user: postgres
      secrets:
        - name: db
      env_vars:
        - name: POSTGRES_PASSWORD
          value: from-yaml
  image_pull_secrets:
    - name: registry
blocks:
  - name: A
    task:
      jobs:
        - name: test
          commands: [make test]
`
	src := forkSecrets{
		secrets: secrets{
			"db": {{Name: "POSTGRES_PASSWORD", Value: "from-secret"}, {Name: "POSTGRES_USER", Value: "db-user-value"}},
			"registry": {
				{Name: "DOCKER_CREDENTIAL_TYPE", Value: "GenericDocker"},
				{Name: "DOCKER_URL", Value: "registry.example.com"},
				{Name: "DOCKER_USERNAME", Value: "robot"},
				{Name: "DOCKER_PASSWORD", Value: "registry-password"},
			},
		},
		allow: map[string]bool{},
	}
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		for _, fork := range []bool{false, true} {
			t.Run(map[bool]string{false: "same repository", true: "fork"}[fork], func(t *testing.T) {
				e := newEnvWith(t, dialect, map[string]string{pipelineFile: yaml}, src)
				sha := e.repo.Git("rev-parse", "HEAD")
				wf, err := e.eng.Trigger(t.Context(), engine.TriggerRequest{
					Project: e.proj, Trigger: ci.TriggerPR, RefType: "pull-request", Branch: "main",
					PR: "7", PRBranch: "feature", SHA: sha, PRFromFork: fork,
				})
				if err != nil {
					t.Fatal(err)
				}
				p := e.pipeline(wf)
				job := e.start(p, "test", "agent-1")
				if !job.NeedsDocker {
					t.Errorf("job NeedsDocker = false, want true")
				}
				a, err := e.eng.Assignment(t.Context(), job)
				if err != nil {
					t.Fatal(err)
				}
				want := []jobspec.Container{
					{Name: "main", Image: "registry.example.com/app:1", Env: []string{"MODE=test"}},
					{Name: "db", Image: "postgres:16", Command: "postgres -c fsync=off", Entrypoint: "docker-entrypoint.sh", User: "postgres",
						Env: []string{"POSTGRES_PASSWORD=from-secret", "POSTGRES_USER=db-user-value", "POSTGRES_PASSWORD=from-yaml"}},
				}
				wantCreds := []jobspec.RegistryCredential{{Registry: "registry.example.com", Username: "robot", Password: "registry-password"}}
				if fork {
					want[1].Env = []string{"POSTGRES_PASSWORD=from-yaml"}
					wantCreds = nil
					if got := strings.Join(a.Job.Notices, "\n"); !strings.Contains(got, `secret "db" withheld`) || !strings.Contains(got, `secret "registry" withheld`) {
						t.Errorf("notices = %q, want the db and registry secrets withheld", got)
					}
				}
				if d := cmp.Diff(want, a.Job.Containers); d != "" {
					t.Errorf("containers (-want +got):\n%s", d)
				}
				if d := cmp.Diff(wantCreds, a.Job.PullCredentials); d != "" {
					t.Errorf("pull credentials (-want +got):\n%s", d)
				}
				masked := contains(a.Job.Secrets, "db-user-value")
				if masked == fork {
					t.Errorf("db-user-value masked = %v, want %v", masked, !fork)
				}
				if _, ok := envOf(a.Job, "POSTGRES_USER"); ok {
					t.Errorf("a container secret leaked into the job's own environment")
				}
			})
		}
	})
}
