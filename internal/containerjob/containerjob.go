// Package containerjob turns a job's agent.containers and
// image_pull_secrets (docs/semaphore.md §1.3) into what the docker executor runs: the
// containers with their environment (secrets first, then env_vars, so that
// env_vars win) and the registry logins. `baton run` and the server
// (engine.Assignment) both use it, so a pipeline's containers mean the
// same locally and on agents. It is pure: secrets come through a lookup
// function.
package containerjob

import (
	"fmt"

	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/plan"
)

// Lookup returns the variables of the named secret; ok is false when the
// secret does not exist.
type Lookup func(name string) (env []jobspec.Var, ok bool, err error)

// NotFoundError is returned when a secret a container or an image pull
// secret names does not exist.
type NotFoundError struct {
	// Secret is the missing secret's name.
	Secret string
	// Container is the container that names it; "" for an image pull
	// secret.
	Container string
}

func (e *NotFoundError) Error() string {
	if e.Container == "" {
		return fmt.Sprintf("image pull secret %q not found", e.Secret)
	}
	return fmt.Sprintf("secret %q of container %q not found", e.Secret, e.Container)
}

// Needs reports whether a job with this agent runs in containers.
func Needs(a plan.Agent) bool { return len(a.Containers) > 0 }

// SecretNames returns the names of the secrets an agent's containers and
// image_pull_secrets name, each once, in order.
func SecretNames(a plan.Agent) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, c := range a.Containers {
		for _, n := range c.Secrets {
			add(n)
		}
	}
	for _, n := range a.ImagePullSecrets {
		add(n)
	}
	return out
}

// Build returns the containers of a job and its registry logins. With a
// nil lookup, secrets are left out (the server stores a job that way and
// adds them when the job is assigned).
func Build(a plan.Agent, lookup Lookup) ([]jobspec.Container, []jobspec.RegistryCredential, error) {
	var out []jobspec.Container
	for _, c := range a.Containers {
		ec := jobspec.Container{Name: c.Name, Image: c.Image, Command: c.Command, Entrypoint: c.Entrypoint, User: c.User}
		if lookup != nil {
			for _, name := range c.Secrets {
				env, ok, err := lookup(name)
				if err != nil {
					return nil, nil, err
				}
				if !ok {
					return nil, nil, &NotFoundError{Secret: name, Container: c.Name}
				}
				for _, v := range env {
					ec.Env = append(ec.Env, v.Name+"="+v.Value)
				}
			}
		}
		for _, v := range c.Env {
			ec.Env = append(ec.Env, v.Name+"="+v.Value)
		}
		out = append(out, ec)
	}
	if lookup == nil {
		return out, nil, nil
	}
	var creds []jobspec.RegistryCredential
	for _, name := range a.ImagePullSecrets {
		env, ok, err := lookup(name)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, &NotFoundError{Secret: name}
		}
		cred, err := PullCredential(name, env)
		if err != nil {
			return nil, nil, err
		}
		creds = append(creds, cred)
	}
	return out, creds, nil
}

// PullCredential reads a Semaphore image pull secret (docs/semaphore.md §1.3): its
// DOCKER_CREDENTIAL_TYPE is DockerHub (DOCKERHUB_USERNAME,
// DOCKERHUB_PASSWORD) or GenericDocker (DOCKER_URL, DOCKER_USERNAME,
// DOCKER_PASSWORD).
func PullCredential(name string, env []jobspec.Var) (jobspec.RegistryCredential, error) {
	get := func(k string) string {
		v := ""
		for _, e := range env {
			if e.Name == k {
				v = e.Value
			}
		}
		return v
	}
	switch t := get("DOCKER_CREDENTIAL_TYPE"); t {
	case "DockerHub":
		return jobspec.RegistryCredential{Username: get("DOCKERHUB_USERNAME"), Password: get("DOCKERHUB_PASSWORD")}, nil
	case "GenericDocker":
		return jobspec.RegistryCredential{Registry: get("DOCKER_URL"), Username: get("DOCKER_USERNAME"), Password: get("DOCKER_PASSWORD")}, nil
	default:
		return jobspec.RegistryCredential{}, fmt.Errorf("image pull secret %q: DOCKER_CREDENTIAL_TYPE %q is not supported (DockerHub or GenericDocker)", name, t)
	}
}
