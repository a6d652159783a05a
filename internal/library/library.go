// Package library manages the organisation's script libraries: git
// repositories whose files pipelines use as command lists
// (`commands_file: "@NAME/path"`) and jobs check out (`lib checkout`).
//
// The Service keeps the definitions in the store with their tokens sealed
// (through a Sealer: the vault), reads the repositories through a
// repository cache of its own (one mirror per library, fetched on demand,
// never cloned per request), fixes the commit of every library when a
// workflow is created (Pin), and answers the Library page: the files at
// the branch head, a file's history and the pipelines that used it.
//
// A library's credential never leaves the server: the server fetches
// with it and hands jobs the files (Archive), never the credential. It is
// a token (http(s) URLs) or an SSH private key (ssh:// and user@host:path
// URLs; internal/gitssh): the key is in a private file only for the
// duration of each git command, and the server's host keys are checked
// against the ones stored with the library, given by the admin or read
// from the server when the key was set (trust on first use).
package library

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/gitssh"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/repourl"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
)

// ErrInvalid is wrapped by the errors of a library definition that cannot
// be stored (a bad name, URL or branch, an unreachable repository).
var ErrInvalid = errors.New("invalid library")

// Sealer seals and opens library tokens and SSH keys (internal/vault).
type Sealer interface {
	SealLibraryToken(l *store.Library, token string) (string, error)
	LibraryToken(l *store.Library) (secret.Value, error)
	SealLibrarySSHKey(l *store.Library, key string) (string, error)
	LibrarySSHKey(l *store.Library) (secret.Value, error)
}

// Config configures a Service.
type Config struct {
	Store  *store.DB
	Sealer Sealer
	// Repos keeps the libraries' mirrors, one sub-cache per library
	// (Cache.Project with the library's ID).
	Repos *repocache.Cache
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service manages script libraries. Its methods are safe for concurrent
// use.
type Service struct {
	cfg Config

	mu      sync.Mutex
	fetched map[string]time.Time // library ID → last fetch of its branch
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, fetched: map[string]time.Time{}}
}

// ReposDir is the directory of the libraries' mirrors.
func (s *Service) ReposDir() string { return s.cfg.Repos.Dir() }

// DefaultBranch is the branch of a library added without one.
const DefaultBranch = "main"

// Compiled on first use: a counted repetition compiles to thousands of
// allocations, which every baton process (a job supervisor, a toolbox
// command) would otherwise pay when it starts.
var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`) })

// CheckName reports whether name may name a library: letters, digits,
// '.', '_' and '-', starting with a letter or digit, at most 63.
func CheckName(name string) error {
	if !validName().MatchString(name) {
		return fmt.Errorf("%w: name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit (at most 63)", ErrInvalid, name)
	}
	return nil
}

// Change is what Create sets and Update changes; nil fields stay.
type Change struct {
	RepoURL *string
	Branch  *string
	// Token replaces the repository token; an empty value removes it.
	Token *secret.Value
	// SSHKey replaces the SSH private key; an empty value removes it.
	SSHKey *secret.Value
	// KnownHosts replaces the host keys (known_hosts lines) the SSH
	// server must show; "" reads them from the server now (trust on
	// first use). Without it they are read when a key is first set or
	// the URL names another server, and kept otherwise.
	KnownHosts *string
}

// credentials are a library's opened token and SSH key.
type credentials struct{ token, key string }

// Hook runs in the transaction of a change, with the library as stored
// (for the audit log).
type Hook func(tx *store.Tx, l *store.Library) error

// Create adds a library after checking that its branch can be read (with
// its token).
func (s *Service) Create(ctx context.Context, name string, ch Change, by string, hooks ...Hook) (*store.Library, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if _, err := s.cfg.Store.GetLibrary(ctx, name); err == nil {
		return nil, fmt.Errorf("add library %s: %w", name, store.ErrConflict)
	}
	now := s.cfg.Now()
	l := &store.Library{Name: name, Branch: DefaultBranch, CreatedAt: now, CreatedBy: by, UpdatedAt: now, UpdatedBy: by}
	l.ID = ids.New()
	if err := s.apply(ctx, l, ch, credentials{}); err != nil {
		return nil, err
	}
	err := s.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateLibrary(l); err != nil {
			return err
		}
		return runHooks(tx, l, hooks)
	})
	if err != nil {
		return nil, fmt.Errorf("add library: %w", err)
	}
	return l, nil
}

// Update changes a library; the new definition is checked as Create's.
func (s *Service) Update(ctx context.Context, name string, ch Change, by string, hooks ...Hook) (*store.Library, error) {
	l, err := s.cfg.Store.GetLibrary(ctx, name)
	if err != nil {
		return nil, err
	}
	// The credentials are bound to the URL: open them before the URL
	// changes.
	old, err := s.credentials(l)
	if err != nil {
		return nil, err
	}
	l.UpdatedAt, l.UpdatedBy = s.cfg.Now(), by
	if err := s.apply(ctx, l, ch, old); err != nil {
		return nil, err
	}
	err = s.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.UpdateLibrary(l); err != nil {
			return err
		}
		return runHooks(tx, l, hooks)
	})
	if err != nil {
		return nil, fmt.Errorf("update library: %w", err)
	}
	return l, nil
}

// apply sets ch on l (whose current credentials are old), checks the
// result and seals the credentials.
func (s *Service) apply(ctx context.Context, l *store.Library, ch Change, old credentials) error {
	cred := old
	oldHost, oldPort, _ := gitssh.Endpoint(l.RepoURL)
	if ch.RepoURL != nil {
		u := strings.TrimSpace(*ch.RepoURL)
		// Only organisation admins manage libraries: a path on the
		// server's disk is theirs to name, as for projects.
		if err := repourl.Check(u, true); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		l.RepoURL = u
	}
	if ch.Branch != nil {
		l.Branch = strings.TrimSpace(*ch.Branch)
	}
	if ch.Token != nil {
		cred.token = ch.Token.Reveal()
	}
	if ch.SSHKey != nil {
		cred.key = strings.TrimSpace(ch.SSHKey.Reveal())
	}
	if l.RepoURL == "" {
		return fmt.Errorf("%w: a repository URL is required", ErrInvalid)
	}
	if l.Branch == "" || strings.HasPrefix(l.Branch, "-") || strings.ContainsAny(l.Branch, " \t\n:~^?*[\\") {
		return fmt.Errorf("%w: branch %q is not a branch name", ErrInvalid, l.Branch)
	}
	if cred.token != "" && cred.key != "" {
		return fmt.Errorf("%w: a library has a token (http(s)) or an SSH key (ssh), not both; remove one", ErrInvalid)
	}
	if cred.token != "" {
		if _, err := tokenURL(l.RepoURL, cred.token); err != nil {
			return err
		}
	}
	if err := s.applySSH(ctx, l, ch, cred.key, oldHost+":"+oldPort); err != nil {
		return err
	}
	// Reach the branch with the new definition before storing it: an
	// SSH key is tried in a mirror of its own, so that a wrong one never
	// reaches the library's mirror, which workflows are reading.
	probe := *l
	var c *repocache.Cache
	u := l.RepoURL
	var err error
	if cred.key != "" {
		id := "library-probe-" + ids.New()
		c = s.cfg.Repos.Project(id)
		c.SetSSH(identity(&probe, cred))
		defer s.cfg.Repos.RemoveProject(id)
	} else if c, u, err = s.repo(&probe, cred); err != nil {
		return err
	}
	if _, err := s.resolveHead(ctx, &probe, c, u); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if l.Token, err = s.cfg.Sealer.SealLibraryToken(l, cred.token); err != nil {
		return err
	}
	if l.SSHKey, err = s.cfg.Sealer.SealLibrarySSHKey(l, cred.key); err != nil {
		return err
	}
	return nil
}

// applySSH checks l's SSH key (key, "" for none) and sets its public key
// and known hosts: the ones ch gives, else the ones stored while the URL
// names the same server as before (oldEndpoint), else the server's now.
func (s *Service) applySSH(ctx context.Context, l *store.Library, ch Change, key, oldEndpoint string) error {
	if key == "" {
		if ch.KnownHosts != nil && *ch.KnownHosts != "" {
			return fmt.Errorf("%w: known hosts are for a library with an SSH key", ErrInvalid)
		}
		l.SSHPublicKey, l.KnownHosts = "", ""
		return nil
	}
	host, port, ok := gitssh.Endpoint(l.RepoURL)
	if !ok {
		return fmt.Errorf("%w: an SSH key is used over SSH only; %q is not an ssh:// or user@host:path URL", ErrInvalid, repourl.Redact(l.RepoURL))
	}
	pub, _, err := gitssh.PublicKey(secret.NewValue(key))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	l.SSHPublicKey = pub
	switch {
	case ch.KnownHosts != nil && strings.TrimSpace(*ch.KnownHosts) != "":
		if _, err := gitssh.HostKeys(*ch.KnownHosts); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		l.KnownHosts = strings.TrimSpace(*ch.KnownHosts) + "\n"
	case ch.KnownHosts == nil && l.KnownHosts != "" && host+":"+port == oldEndpoint:
		// The same server: its host keys stay.
	default:
		known, err := gitssh.ScanHostKeys(ctx, l.RepoURL)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		l.KnownHosts = known
	}
	return nil
}

// identity is the SSH identity of l with key cred.key; nil without one.
func identity(l *store.Library, cred credentials) *gitssh.Identity {
	if cred.key == "" {
		return nil
	}
	return &gitssh.Identity{Key: secret.NewValue(cred.key), KnownHosts: l.KnownHosts}
}

// Delete removes a library.
func (s *Service) Delete(ctx context.Context, name string, hooks ...Hook) error {
	l, err := s.cfg.Store.GetLibrary(ctx, name)
	if err != nil {
		return err
	}
	err = s.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteLibrary(name); err != nil {
			return err
		}
		return runHooks(tx, l, hooks)
	})
	if err != nil {
		return fmt.Errorf("remove library: %w", err)
	}
	// Its mirror (whose config holds the token) goes with it.
	if err := s.cfg.Repos.RemoveProject("library-" + l.ID); err != nil {
		s.cfg.Logger.Warn("remove the library's mirror", "library", name, "err", err)
	}
	return nil
}

func runHooks(tx *store.Tx, l *store.Library, hooks []Hook) error {
	for _, h := range hooks {
		if err := h(tx, l); err != nil {
			return err
		}
	}
	return nil
}

// List returns every library by name.
func (s *Service) List(ctx context.Context) ([]*store.Library, error) {
	return s.cfg.Store.ListLibraries(ctx)
}

// Get returns a library by name.
func (s *Service) Get(ctx context.Context, name string) (*store.Library, error) {
	return s.cfg.Store.GetLibrary(ctx, name)
}

// tokenURL is an http(s) URL with token as its password.
func tokenURL(raw, token string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("%w: a token is sent over http(s) only; %q is not an http:// or https:// URL", ErrInvalid, repourl.Redact(raw))
	}
	if u.User != nil {
		return "", fmt.Errorf("%w: the URL %q already carries credentials; give the token alone", ErrInvalid, repourl.Redact(raw))
	}
	u.User = url.UserPassword("x-access-token", token)
	return u.String(), nil
}

// repo is where the library's repository is read: its own mirror, from
// the URL with its token or with its SSH key.
func (s *Service) repo(l *store.Library, cred credentials) (*repocache.Cache, string, error) {
	u := l.RepoURL
	if cred.token != "" {
		var err error
		if u, err = tokenURL(u, cred.token); err != nil {
			return nil, "", err
		}
	}
	c := s.cfg.Repos.Project("library-" + l.ID)
	c.SetSSH(identity(l, cred))
	return c, u, nil
}

// credentials opens the library's stored token and SSH key.
func (s *Service) credentials(l *store.Library) (credentials, error) {
	token, err := s.cfg.Sealer.LibraryToken(l)
	if err != nil {
		return credentials{}, err
	}
	key, err := s.cfg.Sealer.LibrarySSHKey(l)
	if err != nil {
		return credentials{}, err
	}
	return credentials{token: token.Reveal(), key: key.Reveal()}, nil
}

// open is repo with the library's stored credentials.
func (s *Service) open(l *store.Library) (*repocache.Cache, string, error) {
	cred, err := s.credentials(l)
	if err != nil {
		return nil, "", err
	}
	return s.repo(l, cred)
}

// resolveHead resolves l's branch in c, fetching from u.
func (s *Service) resolveHead(ctx context.Context, l *store.Library, c *repocache.Cache, u string) (string, error) {
	sha, err := c.Resolve(ctx, u, "refs/heads/"+l.Branch)
	if err != nil {
		return "", fmt.Errorf("library %s: branch %s of %s: %s", l.Name, l.Branch, repourl.Redact(l.RepoURL), repourl.Redact(err.Error()))
	}
	return sha, nil
}

// Head resolves the head of a library's branch now (fetching).
func (s *Service) Head(ctx context.Context, l *store.Library) (string, error) {
	c, u, err := s.open(l)
	if err != nil {
		return "", err
	}
	start := s.cfg.Now()
	sha, err := s.resolveHead(ctx, l, c, u)
	if err == nil {
		s.mu.Lock()
		s.fetched[l.ID] = start
		s.mu.Unlock()
	}
	return sha, err
}

// RecentHead is how old a fetch may be for RecentHead to answer from the
// mirror without fetching again.
const RecentHead = 15 * time.Second

// RecentHead is Head for readers (the Library page): when this server
// fetched the library less than RecentHead ago, its mirror answers
// without a fetch; otherwise it fetches.
func (s *Service) RecentHead(ctx context.Context, l *store.Library) (string, error) {
	s.mu.Lock()
	at, ok := s.fetched[l.ID]
	s.mu.Unlock()
	if ok && s.cfg.Now().Sub(at) < RecentHead {
		c, u, err := s.open(l)
		if err == nil {
			if sha, err := c.ResolveCached(ctx, u, "refs/heads/"+l.Branch); err == nil {
				return sha, nil
			}
		}
	}
	return s.Head(ctx, l)
}

// Public reports whether anyone could read a library without the server:
// no token, and a URL of the network (http, https or git), not a path on
// the server's disk nor an SSH URL (which the server's own key may open).
func Public(l *store.Library) bool {
	if l.Token != "" || l.SSHKey != "" {
		return false
	}
	u, err := url.Parse(l.RepoURL)
	return err == nil && u.User == nil && (u.Scheme == "https" || u.Scheme == "http" || u.Scheme == "git")
}

// PinTimeout bounds how long Pin waits for one library's repository.
const PinTimeout = 30 * time.Second

// Pin resolves the head of every library's branch, for a new workflow. A
// library that cannot be reached gets a pin with its Error: only the
// pipelines that use it fail, saying why.
//
// fork says the workflow is a pull request's from a fork: its pipeline
// file and commands are the fork author's, who could print any library
// file the workflow may read into the job's log (public to anonymous
// visitors in a public project). Such a workflow gets only the public
// libraries (Public); the others are pinned with an Error that says so.
func (s *Service) Pin(ctx context.Context, fork bool) ([]store.LibraryPin, error) {
	ls, err := s.cfg.Store.ListLibraries(ctx)
	if err != nil {
		return nil, err
	}
	pins := make([]store.LibraryPin, len(ls))
	var wg sync.WaitGroup
	for i, l := range ls {
		wg.Go(func() {
			pins[i] = store.LibraryPin{Name: l.Name, LibraryID: l.ID}
			if fork && !Public(l) {
				pins[i].Error = fmt.Sprintf("library %s is private, and a pull request from a fork gets only the libraries anyone can read", l.Name)
				return
			}
			// A library that does not answer must not hold up every
			// workflow: it is pinned with the error instead.
			ctx, cancel := context.WithTimeoutCause(ctx, PinTimeout, fmt.Errorf("no answer in %v", PinTimeout))
			defer cancel()
			sha, err := s.Head(ctx, l)
			if err != nil {
				s.cfg.Logger.Warn("pin library", "library", l.Name, "err", repourl.Redact(err.Error()))
				pins[i].Error = "could not be read when the workflow was created: " + repourl.Redact(err.Error())
				return
			}
			pins[i].SHA = sha
		})
	}
	wg.Wait()
	return pins, nil
}

// FS is the file tree of a library at a pinned commit, for
// pipeline.LoadWith. It lives for one compile (it holds ctx).
func (s *Service) FS(ctx context.Context, pin store.LibraryPin) fs.FS {
	return repocache.FileFS(func(name string) ([]byte, error) { return s.ReadFile(ctx, pin, name) })
}

// ReadFile reads a file of a library at a pinned commit.
func (s *Service) ReadFile(ctx context.Context, pin store.LibraryPin, path string) ([]byte, error) {
	c, u, err := s.openPin(ctx, pin)
	if err != nil {
		return nil, err
	}
	b, err := c.ReadFile(ctx, u, pin.SHA, path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fs.ErrNotExist
		}
		return nil, errors.New(repourl.Redact(err.Error()))
	}
	return b, nil
}

// openPin is open for the library of a pin, which must have a commit.
func (s *Service) openPin(ctx context.Context, pin store.LibraryPin) (*repocache.Cache, string, error) {
	if pin.SHA == "" {
		return nil, "", errors.New(pin.Error)
	}
	l, err := s.cfg.Store.GetLibraryByID(ctx, pin.LibraryID)
	if err != nil {
		return nil, "", fmt.Errorf("library %s was removed", pin.Name)
	}
	return s.open(l)
}

// ArchivePin writes a library's files at a pinned commit to w as a tar
// archive (lib checkout).
func (s *Service) ArchivePin(ctx context.Context, pin store.LibraryPin, w io.Writer) error {
	c, u, err := s.openPin(ctx, pin)
	if err != nil {
		return err
	}
	if err := c.Archive(ctx, u, pin.SHA, w); err != nil {
		return errors.New(repourl.Redact(err.Error()))
	}
	return nil
}

// Files lists a library's files at a commit.
func (s *Service) Files(ctx context.Context, l *store.Library, sha string) ([]repocache.File, error) {
	c, u, err := s.open(l)
	if err != nil {
		return nil, err
	}
	files, err := c.ListFiles(ctx, u, sha)
	if err != nil {
		return nil, errors.New(repourl.Redact(err.Error()))
	}
	return files, nil
}

// History returns the commits that changed a library's file (or any file
// when path is ""), newest first, from commit sha.
func (s *Service) History(ctx context.Context, l *store.Library, sha, path string, limit int) ([]repocache.CommitInfo, error) {
	c, u, err := s.open(l)
	if err != nil {
		return nil, err
	}
	log, err := c.Log(ctx, u, sha, path, limit)
	if err != nil {
		return nil, errors.New(repourl.Redact(err.Error()))
	}
	return log, nil
}

// Content reads a library's file at a commit.
func (s *Service) Content(ctx context.Context, l *store.Library, sha, path string) ([]byte, error) {
	c, u, err := s.open(l)
	if err != nil {
		return nil, err
	}
	b, err := c.ReadFile(ctx, u, sha, path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("library %s has no file %q: %w", l.Name, path, store.ErrNotFound)
		}
		return nil, errors.New(repourl.Redact(err.Error()))
	}
	return b, nil
}

// Archive writes a library's files at a commit to w as a tar archive.
func (s *Service) Archive(ctx context.Context, l *store.Library, sha string, w io.Writer) error {
	c, u, err := s.open(l)
	if err != nil {
		return err
	}
	if err := c.Archive(ctx, u, sha, w); err != nil {
		return errors.New(repourl.Redact(err.Error()))
	}
	return nil
}

// Uses returns the uses of a library's files in the last 30 days, newest
// first.
func (s *Service) Uses(ctx context.Context, l *store.Library, limit int) ([]store.LibraryUse, error) {
	return s.cfg.Store.ListLibraryUses(ctx, l.ID, s.cfg.Now().Add(-30*24*time.Hour), limit)
}
