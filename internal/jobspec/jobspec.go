// Package jobspec defines what an agent receives to run one job: its
// commands and epilogues, its environment, its secret files, the values to
// mask, its containers and its time limit. It is plain data (JSON on the
// agent protocol, and stored with each job row without secret values) and
// imports only the standard library, so that the server, the agent
// protocol, the runner and `baton run` share it without depending on each
// other. jobenv.Build makes a Job from a compiled plan job; the runner runs
// it.
package jobspec

import (
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Var is one environment variable: a name and its value. It is the one
// name/value type of a job's variables, from the compiled plan to the
// shell that exports them.
type Var struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// File is a file a job writes before its commands run (secret files).
type File struct {
	// Path is where the file goes. A relative path is relative to $HOME;
	// a leading ~/ means $HOME too. Parent directories are created.
	Path string `json:"path"`
	// Content is written byte for byte.
	Content []byte `json:"content"`
	// Mode is the file's permission bits; 0 means 0644.
	Mode fs.FileMode `json:"mode,omitempty"`
}

// Container is one container of a job that runs in containers
// (agent.containers).
type Container struct {
	// Name is the container's host name on the job's network.
	Name string `json:"name"`
	// Image is the image reference.
	Image string `json:"image"`
	// Command replaces the image's command (split like a shell would,
	// without expansions). Ignored for the main container.
	Command string `json:"command,omitempty"`
	// Entrypoint replaces the image's entrypoint. Ignored for the main
	// container, whose process is the session's bash.
	Entrypoint string `json:"entrypoint,omitempty"`
	// User runs the container's processes as this user.
	User string `json:"user,omitempty"`
	// Env is the container's environment, "KEY=VALUE".
	Env []string `json:"env,omitempty"`
}

// Mount is a host path bind-mounted in a container at the same path.
type Mount struct {
	// Path is the host path, also the path in the container.
	Path string `json:"path"`
	// ReadOnly mounts it read-only.
	ReadOnly bool `json:"read_only,omitempty"`
}

// RegistryCredential is a login to a container registry.
type RegistryCredential struct {
	// Registry is the registry host ("" or "docker.io" for Docker Hub).
	Registry string `json:"registry,omitempty"`
	// Username and Password log in.
	Username string `json:"username"`
	Password string `json:"password"`
}

// Job is everything needed to run one job.
type Job struct {
	// Name names the job in application logs.
	Name string `json:"name"`
	// Commands are the prologue and the job's commands, in order.
	Commands []string `json:"commands,omitempty"`
	// EpilogueAlways runs after the commands unless the job was stopped.
	EpilogueAlways []string `json:"epilogue_always,omitempty"`
	// EpilogueOnPass runs after EpilogueAlways when the job passed.
	EpilogueOnPass []string `json:"epilogue_on_pass,omitempty"`
	// EpilogueOnFail runs after EpilogueAlways when the job failed.
	EpilogueOnFail []string `json:"epilogue_on_fail,omitempty"`
	// Env is exported in order before the commands; a later entry of
	// the same name wins.
	Env []Var `json:"env,omitempty"`
	// Files are written after Env is exported, before the commands.
	Files []File `json:"files,omitempty"`
	// Secrets are values masked in all output.
	Secrets []string `json:"secrets,omitempty"`
	// Notices are lines shown at the start of the job's log, in its
	// "Exporting environment variables" step (for example that a secret
	// was withheld from a pull request from a fork: see WithheldNotice,
	// which the job page and baton job logs show outside the step).
	Notices []string `json:"notices,omitempty"`
	// TimeLimit stops the job when it runs longer; 0 means no limit.
	TimeLimit time.Duration `json:"time_limit,omitempty"`
	// Dir is the shell's starting working directory.
	Dir string `json:"dir,omitempty"`
	// BaseEnv is the shell process's environment (executor
	// SessionConfig.Env).
	BaseEnv []string `json:"base_env,omitempty"`
	// Init is bash source evaluated when the shell starts, without output
	// (executor SessionConfig.Init).
	Init string `json:"init,omitempty"`

	// Containers, when not empty, run the job in containers
	// (agent.containers): the first is the main one, the others are
	// services. An executor.Switch sends such jobs to the docker executor.
	Containers []Container `json:"containers,omitempty"`
	// Mounts are host paths the main container needs (the job's home,
	// the toolbox, caches), bind-mounted at the same paths.
	Mounts []Mount `json:"mounts,omitempty"`
	// PullPolicy is the image pull policy ("" means the executor's).
	PullPolicy string `json:"pull_policy,omitempty"`
	// PullCredentials log in to registries before images are pulled
	// (image_pull_secrets).
	PullCredentials []RegistryCredential `json:"pull_credentials,omitempty"`
	// ID labels the containers of the job; empty means a random one.
	ID string `json:"id,omitempty"`

	// Debug makes a debug job (baton debug): after the set-up (variables,
	// files), its commands are not run but written to ~/commands.sh, one
	// per line, and the job is held (Runner.Hold) until the debug session
	// ends or TimeLimit passes.
	Debug bool `json:"debug,omitempty"`
	// KeepOnFailure, when positive, holds a failed job's session that
	// long after its epilogues (Runner.Hold), so that a user can attach;
	// the job's result is reported when the hold ends.
	KeepOnFailure time.Duration `json:"keep_on_failure,omitempty"`
}

// The directives of the steps a runner adds to a job's log before its
// commands, as Semaphore names them.
const (
	DirectiveExportEnv   = "Exporting environment variables"
	DirectiveInjectFiles = "Injecting Files"
)

// forkWithheld ends the notice of a secret withheld from a job of a pull
// request from a fork.
const forkWithheld = " withheld: this pull request comes from a fork"

// WithheldNotice is the notice of a secret withheld from a job because
// its pull request comes from a fork.
func WithheldNotice(secret string) string { return fmt.Sprintf("secret %q", secret) + forkWithheld }

// TargetWithheldNotice is the notice of a deployment target's secret
// withheld from a promotion of a pull request from a fork.
func TargetWithheldNotice(target string) string {
	return fmt.Sprintf("deployment target %q's secret", target) + forkWithheld
}

// IsWithheldNotice reports whether a line of a job's log is the notice of
// a withheld secret, so that readers of the log can show it next to a
// failure it may explain.
func IsWithheldNotice(line string) bool {
	return strings.HasSuffix(strings.TrimRight(line, "\r\n"), forkWithheld) &&
		(strings.HasPrefix(line, "secret ") || strings.HasPrefix(line, "deployment target "))
}

// Pseudo reports whether directive is one of the runner's own steps
// rather than a command of the user's.
func Pseudo(directive string) bool {
	return directive == DirectiveExportEnv || directive == DirectiveInjectFiles
}
