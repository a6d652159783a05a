package containerjob

import (
	"errors"
	"testing"

	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/plan"
	"github.com/google/go-cmp/cmp"
)

func TestBuild(t *testing.T) {
	agent := plan.Agent{
		Containers: []plan.Container{
			{Name: "main", Image: "debian:12", Env: []jobspec.Var{{Name: "A", Value: "1"}}},
			{Name: "db", Image: "postgres:16", Command: "postgres", Entrypoint: "ep", User: "pg",
				Secrets: []string{"db"}, Env: []jobspec.Var{{Name: "PASSWORD", Value: "yaml"}}},
		},
		ImagePullSecrets: []string{"hub", "db"},
	}
	secrets := map[string][]jobspec.Var{
		"db":  {{Name: "PASSWORD", Value: "secret"}, {Name: "DOCKER_CREDENTIAL_TYPE", Value: "GenericDocker"}, {Name: "DOCKER_URL", Value: "r.example"}, {Name: "DOCKER_USERNAME", Value: "u"}, {Name: "DOCKER_PASSWORD", Value: "p"}},
		"hub": {{Name: "DOCKER_CREDENTIAL_TYPE", Value: "DockerHub"}, {Name: "DOCKERHUB_USERNAME", Value: "hu"}, {Name: "DOCKERHUB_PASSWORD", Value: "hp"}},
	}
	lookup := func(name string) ([]jobspec.Var, bool, error) {
		env, ok := secrets[name]
		return env, ok, nil
	}
	if got, want := SecretNames(agent), []string{"db", "hub"}; !cmp.Equal(got, want) {
		t.Errorf("SecretNames = %q, want %q", got, want)
	}
	cs, creds, err := Build(agent, lookup)
	if err != nil {
		t.Fatal(err)
	}
	wantCs := []jobspec.Container{
		{Name: "main", Image: "debian:12", Env: []string{"A=1"}},
		{Name: "db", Image: "postgres:16", Command: "postgres", Entrypoint: "ep", User: "pg",
			Env: []string{"PASSWORD=secret", "DOCKER_CREDENTIAL_TYPE=GenericDocker", "DOCKER_URL=r.example", "DOCKER_USERNAME=u", "DOCKER_PASSWORD=p", "PASSWORD=yaml"}},
	}
	if d := cmp.Diff(wantCs, cs); d != "" {
		t.Errorf("containers (-want +got):\n%s", d)
	}
	wantCreds := []jobspec.RegistryCredential{{Username: "hu", Password: "hp"}, {Registry: "r.example", Username: "u", Password: "p"}}
	if d := cmp.Diff(wantCreds, creds); d != "" {
		t.Errorf("credentials (-want +got):\n%s", d)
	}

	// Without a lookup: no secrets, no logins.
	cs, creds, err = Build(agent, nil)
	if err != nil || creds != nil || len(cs[1].Env) != 1 {
		t.Errorf("Build without lookup = %+v, %+v, %v", cs, creds, err)
	}

	// A missing secret says which container names it.
	delete(secrets, "db")
	_, _, err = Build(agent, lookup)
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Secret != "db" || nf.Container != "db" {
		t.Errorf("Build with a missing secret: %v", err)
	}
	secrets["db"] = nil
	delete(secrets, "hub")
	_, _, err = Build(agent, lookup)
	if !errors.As(err, &nf) || nf.Secret != "hub" || nf.Container != "" || err.Error() != `image pull secret "hub" not found` {
		t.Errorf("Build with a missing pull secret: %v", err)
	}
	secrets["hub"] = []jobspec.Var{{Name: "DOCKER_CREDENTIAL_TYPE", Value: "ECR"}}
	if _, _, err = Build(agent, lookup); err == nil {
		t.Errorf("Build with an unsupported credential type: no error")
	}
}
