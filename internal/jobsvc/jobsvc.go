// Package jobsvc is the job service: a small HTTP server, one per job, that
// holds the job's rights to the project's cache and artifacts and to its
// workflow's sem-context values, and starts the job's sem-service
// containers (services.go): the job asks for a service and a version from
// a fixed catalogue (internal/semservice) and never reaches Docker itself. The toolbox's cache, artifact,
// test-results and sem-context commands are its clients; the job itself
// has no path to the stores.
//
// The agent (and `baton run`) starts a Service before a job and closes it
// after. It listens on a unix socket in a fresh directory and accepts only
// requests that carry the job's random token (Authorization: Bearer). The
// job learns both from its environment (SocketVar, TokenVar); containers
// get the socket's directory mounted at the same path.
//
// What a request may do is decided here, from the Scope the agent got
// from the server with the job, never from anything the job says:
//   - every request reaches the job's own project's cache and artifacts
//     only (another project's are not addressable);
//   - job and workflow artifacts are written for the job's own job and
//     workflow only; other jobs' and workflows' of the project can be read;
//   - a pull request from a fork reads the cache and the artifacts but
//     cannot store, delete or clear cache keys nor push or yank project
//     artifacts: 403 with a message that says so.
//
// Storage is behind small interfaces (CacheStorage, ArtifactStorage,
// ContextStorage); LocalCache, LocalArtifacts and LocalContext keep them
// in directories on this machine (`baton run`). An agent keeps artifacts
// on its server instead, which serves them with ArtifactHandler over its
// object storage (internal/artifact), checking the same rules again.
// Archives and trees stream through; nothing is held whole in memory.
package jobsvc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// The variables that tell a job where its service is.
const (
	// SocketVar is the path of the service's unix socket.
	SocketVar = "BATON_JOBSVC"
	// TokenVar is the job's bearer token.
	TokenVar = "BATON_JOBSVC_TOKEN"
)

// Scope is what one job may reach: set by the agent from its assignment.
type Scope struct {
	// Project is the project whose cache and artifacts the job uses.
	Project string
	// Workflow and Job are the job's own IDs: the artifacts it may write.
	Workflow, Job string
	// Fork is set for pull requests from forks: cache and project
	// artifacts are read-only.
	Fork bool
}

// Config configures a Service.
type Config struct {
	Scope Scope
	// Cache and Artifacts are the stores; nil means the job has none
	// (requests answer 404 with a message saying so).
	Cache     CacheStorage
	Artifacts ArtifactStorage
	// Context is the sem-context store: the job's workflow's contexts.
	Context ContextStorage
	// Services runs the job's sem-service containers; nil means the job
	// cannot start any, and NoServices says why (one line).
	Services   ServiceRunner
	NoServices string
	// Reports keeps the job's test reports; nil means none (503).
	Reports ReportStorage
	// Coverage keeps the job's code coverage; nil means none (503).
	Coverage CoverageStorage
	// Libraries gives the job the script libraries' files (lib
	// checkout); nil means none (503).
	Libraries LibraryStorage
	// Tools provides language versions and tools from the agent's tool
	// cache; nil means the job has none (503).
	Tools ToolProvider
	// Workspace starts making the job's working copy, if that has not
	// started yet, without waiting for it: the toolbox's checkout asks
	// for it (POST /v1/workspace) and then waits for the copy's ready
	// file, as for a copy started with the job. Nil means the job has
	// no copy to make (503).
	Workspace func()
	// Dir is where the socket's directory is made; "" means os.TempDir().
	Dir string
	// Listen makes the listener at the socket's path; nil means a unix
	// socket. (Tests in a synctest bubble use an in-memory one.)
	Listen func(socket string) (net.Listener, error)
	// Owner, if set, owns the socket's directory, which is then 0700 (the
	// job's user); otherwise the directory is 0711 and the socket 0666,
	// and the token alone is the guard.
	Owner *Owner
}

// Owner is a user and group ID.
type Owner struct{ UID, GID int }

// maxSocketPath is the size of a unix socket address's path on Linux,
// its terminating zero included.
const maxSocketPath = 108

// Service is one job's service.
type Service struct {
	cfg    Config
	token  string
	dir    string
	socket string
	srv    *http.Server
	done   chan struct{}
}

// Start makes the socket's directory and serves on it until Close.
func Start(cfg Config) (*Service, error) {
	parent := cfg.Dir
	if parent == "" {
		parent = os.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "baton-jobsvc-")
	if err != nil {
		return nil, fmt.Errorf("job service: %w", err)
	}
	s := &Service{cfg: cfg, dir: dir, socket: filepath.Join(dir, "s"), done: make(chan struct{})}
	fail := func(err error) (*Service, error) {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("job service: %w", err)
	}
	if len(s.socket) >= maxSocketPath {
		return fail(fmt.Errorf("socket path %s is longer than a unix socket allows (%d bytes); use a shorter temporary directory", s.socket, maxSocketPath-1))
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fail(err)
	}
	s.token = hex.EncodeToString(b[:])
	var ln net.Listener
	if cfg.Listen != nil {
		ln, err = cfg.Listen(s.socket)
	} else {
		ln, err = listenUnix(s.socket, cfg.Owner)
	}
	if err != nil {
		return fail(err)
	}
	s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// listenUnix listens on a unix socket at path that the job's user can
// reach: with owner, the socket's directory is that user's, 0700;
// without, the directory is 0711 (not listable) and the socket 0666.
func listenUnix(path string, owner *Owner) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if owner != nil {
		err = errors.Join(os.Chown(dir, owner.UID, owner.GID), os.Chown(path, owner.UID, owner.GID), os.Chmod(path, 0o600), os.Chmod(dir, 0o700))
	} else {
		err = errors.Join(os.Chmod(path, 0o666), os.Chmod(dir, 0o711))
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// Env returns the variables that tell the job where the service is.
func (s *Service) Env() []string {
	return []string{SocketVar + "=" + s.socket, TokenVar + "=" + s.token}
}

// Dir is the socket's directory: mount it into the job's containers.
func (s *Service) Dir() string { return s.dir }

// Close stops the service (requests in flight are cut off) and removes
// its directory.
func (s *Service) Close() error {
	err := s.srv.Close()
	<-s.done
	return errors.Join(err, os.RemoveAll(s.dir))
}

// Handler returns the service's HTTP handler for scope, checking token;
// for tests and for embedding in other servers.
func Handler(cfg Config, token string) http.Handler {
	s := &Service{cfg: cfg, token: token}
	return s.handler()
}
