// Package enginetest helps test the engine and the dispatcher on real
// dependencies: a store on SQLite (always) or PostgreSQL (when reachable;
// required when CI=true), a git repository in a temporary directory, a
// project pointing at it, agent tokens, and a fake clock.
package enginetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv/probe"
)

// Dialects are the store dialects tests run on.
var Dialects = []string{store.SQLite, store.Postgres}

// ForEachDialect runs fn as a subtest per dialect; the PostgreSQL one is
// skipped when no server is reachable, unless CI=true.
func ForEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			if d == store.Postgres {
				postgresAdmin(t)
			}
			fn(t, d)
		})
	}
}

// postgresAdmin returns the URL of the test server's maintenance database,
// skipping the test (failing it when CI=true) if it is unreachable.
func postgresAdmin(t testing.TB) *url.URL {
	t.Helper()
	probe.Require(t, probe.Postgres)
	u, err := url.Parse(probe.PostgresDSN())
	if err != nil {
		t.Fatalf("BATON_TEST_POSTGRES: %v", err)
	}
	return u
}

// NewDSN returns the DSN of a new, empty database of the dialect, removed
// after the test. Several store.DBs may open it (several servers).
func NewDSN(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == store.SQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "baton.db")
	}
	admin := postgresAdmin(t)
	var b [6]byte
	rand.Read(b[:])
	name := "baton_engine_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", admin.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", admin.String())
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u := *admin
	u.Path = "/" + name
	return u.String()
}

// Open opens dsn, closed after the test.
func Open(t testing.TB, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// OpenNew opens a new, empty database of the dialect.
func OpenNew(t *testing.T, dialect string) *store.DB {
	t.Helper()
	return Open(t, NewDSN(t, dialect))
}

// Repo is a git repository in a temporary directory, on branch main.
type Repo struct {
	tb  testing.TB
	Dir string
}

// NewRepo creates a repository whose first commit holds files.
func NewRepo(tb testing.TB, files map[string]string) *Repo {
	tb.Helper()
	r := &Repo{tb: tb, Dir: gittest.Init(tb)}
	r.Commit("initial commit", files)
	return r
}

// Commit commits files (path → content) on the current branch with msg
// and returns the new commit's hash.
func (r *Repo) Commit(msg string, files map[string]string) string {
	r.tb.Helper()
	return gittest.Commit(r.tb, r.Dir, msg, files)
}

// Git runs git in the repository.
func (r *Repo) Git(args ...string) string {
	r.tb.Helper()
	return gittest.Git(r.tb, r.Dir, args...)
}

// CreateProject stores a project building the repository at dir.
func CreateProject(t testing.TB, db *store.DB, name, dir string) *ci.Project {
	t.Helper()
	p := &ci.Project{Name: name, RepoURL: dir, DefaultBranch: "main", PipelineFile: ".semaphore/semaphore.yml"}
	if err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.CreateProject(p) }); err != nil {
		t.Fatalf("create project: %v", err)
	}
	return p
}

// AgentToken stores an agent token (for agents of agentType, or any type
// when it is "") and returns its secret.
func AgentToken(t *testing.T, db *store.DB, agentType string) string {
	t.Helper()
	var b [16]byte
	rand.Read(b[:])
	secret := "agent-" + hex.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(secret))
	tok := &store.Token{Name: "test", Hash: hex.EncodeToString(sum[:]), Kind: store.TokenAgent, AgentType: agentType}
	if err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.CreateToken(tok) }); err != nil {
		t.Fatalf("create token: %v", err)
	}
	return secret
}

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed, whole-second time.
func NewClock() *Clock {
	return &Clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
