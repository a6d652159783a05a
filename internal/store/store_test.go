package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv/probe"
)

// The store suite: every test in storeTests runs once per dialect, each on
// a new, empty database: SQLite in a temporary directory, PostgreSQL in a
// database created for the test (on the server BATON_TEST_POSTGRES names)
// and dropped after it.

type storeTest struct {
	name string
	run  func(t *testing.T, e *testEnv)
}

func storeTests() []storeTest {
	return []storeTest{
		{"Migrations", testMigrations},
		{"ConcurrentMigrations", testConcurrentMigrations},
		{"Tx", testTx},
		{"MaxConns", testMaxConns},
		{"Projects", testProjects},
		{"Workflows", testWorkflows},
		{"WorkflowNumbersConcurrent", testWorkflowNumbersConcurrent},
		{"WorkflowNumbersContinue", testWorkflowNumbersContinue},
		{"WorkflowDerivedState", testWorkflowDerivedState},
		{"Pipelines", testPipelines},
		{"QueuePipelines", testQueuePipelines},
		{"BlocksAndJobs", testBlocksAndJobs},
		{"CreateManyJobs", testCreateManyJobs},
		{"ClaimJob", testClaimJob},
		{"ClaimJobConcurrent", testClaimJobConcurrent},
		{"ClaimJobDocker", testClaimJobDocker},
		{"ClaimJobs", testClaimJobs},
		{"UrgentTx", testUrgentTx},
		{"JobReads", testJobReads},
		{"Handout", testHandout},
		{"JobQueries", testJobQueries},
		{"UpdateJobIf", testUpdateJobIf},
		{"UpdateJobsIf", testUpdateJobsIf},
		{"ActivePipelines", testActivePipelines},
		{"TimeLimits", testTimeLimits},
		{"Agents", testAgents},
		{"AgentCredentials", testAgentCredentials},
		{"HeldPolls", testHeldPolls},
		{"UsersAndTokens", testUsersAndTokens},
		{"People", testPeople},
		{"Settings", testSettings},
		{"GlobalTools", testGlobalTools},
		{"Refs", testRefs},
		{"Deliveries", testDeliveries},
		{"DeliveriesBounded", testDeliveriesBounded},
		{"ForgeTokenBoundToForge", testForgeTokenBoundToForge},
		{"NotifyListen", testNotifyListen},
		{"NotifyAcrossServers", testNotifyAcrossServers},
		{"ListenReconnect", testListenReconnect},
		{"Secrets", testSecrets},
		{"SecretPolicy", testSecretPolicy},
		{"PromotionsAndTargets", testPromotionsAndTargets},
		{"Overview", testOverview},
		{"Debug", testDebug},
		{"SharedLogs", testSharedLogs},
		{"LastLogChunk", testLastLogChunk},
		{"MarkAgentLost", testMarkAgentLost},
		{"CacheKeys", testCacheKeys},
		{"ArtifactRetention", testArtifactRetention},
		{"TestReports", testTestReports},
		{"TestDigests", testTestDigests},
		{"TestOutcomesPending", testTestOutcomesPending},
		{"Coverage", testCoverage},
		{"Schedules", testSchedules},
		{"ClaimDueSchedules", testClaimDueSchedules},
		{"ClaimDueSchedulesConcurrent", testClaimDueSchedulesConcurrent},
		{"ScheduleRunsPending", testScheduleRunsPending},
		{"Notifications", testNotifications},
		{"NotificationClaimsConcurrent", testNotificationClaimsConcurrent},
		{"Libraries", testLibraries},
	}
}

func TestStore(t *testing.T) {
	envs := []*testEnv{
		{dialect: SQLite},
		{dialect: Postgres},
	}
	for _, e := range envs {
		t.Run(e.dialect, func(t *testing.T) {
			if e.dialect == Postgres {
				e.setupPostgres(t)
			}
			for _, st := range storeTests() {
				t.Run(st.name, func(t *testing.T) { st.run(t, e) })
			}
		})
	}
}

// testEnv makes databases of one dialect.
type testEnv struct {
	dialect string
	admin   *sql.DB  // PostgreSQL: the server's maintenance database
	adminU  *url.URL // and its URL
}

// setupPostgres connects to the test server, skipping (failing when
// CI=true) if there is none.
func (e *testEnv) setupPostgres(t *testing.T) {
	probe.Require(t, probe.Postgres)
	dsn := probe.PostgresDSN()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("BATON_TEST_POSTGRES: %v", err)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	e.admin, e.adminU = admin, u
}

// newDSN returns the dsn of a new, empty database, removed after the test.
func (e *testEnv) newDSN(t *testing.T) string {
	t.Helper()
	if e.dialect == SQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "baton.db")
	}
	var b [6]byte
	rand.Read(b[:])
	name := "baton_test_" + hex.EncodeToString(b[:])
	if _, err := e.admin.ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := e.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u := *e.adminU
	u.Path = "/" + name
	return u.String()
}

// open opens a new, empty database.
func (e *testEnv) open(t *testing.T) *DB {
	t.Helper()
	return openDSN(t, e.newDSN(t))
}

// openDSN opens dsn, to be closed after the test.
func openDSN(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// write runs fn in a transaction and fails the test on error.
func write(t *testing.T, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.Tx(t.Context(), fn); err != nil {
		t.Fatalf("Tx: %v", err)
	}
}

// diff fails the test if got and want differ.
func diff(t *testing.T, what string, got, want any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, opts...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}

// allSet fails the test if a field of the struct v points to is zero, but
// for those named in except: fixtures that set every field make the
// round-trip tests cover a field added to a ci type later.
func allSet(t *testing.T, v any, except ...string) {
	t.Helper()
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		if slices.Contains(except, f.Name) {
			continue
		}
		if rv.Field(i).IsZero() {
			t.Errorf("fixture %s.%s is zero: set it, so that the test covers it", rv.Type().Name(), f.Name)
		}
	}
}

// at returns a time on a fixed day, with a nanosecond part that the store
// drops (it keeps microseconds) and, to check that times come back in UTC,
// in a zone other than UTC.
func at(hour, min, sec int) time.Time {
	return time.Date(2025, 11, 26, hour, min, sec, 123456789, time.FixedZone("CET", 3600))
}

// seed creates a project, a workflow and a pipeline with one block.
type seed struct {
	project  *ci.Project
	workflow *ci.Workflow
	pipeline *ci.Pipeline
	block    *ci.Block
}

func newSeed(t *testing.T, db *DB, name string) *seed {
	t.Helper()
	s := &seed{
		project: &ci.Project{Name: name, RepoURL: "https://example.com/" + name + ".git"},
	}
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateProject(s.project); err != nil {
			return err
		}
		s.workflow = &ci.Workflow{ProjectID: s.project.ID, Trigger: ci.TriggerPush, RefType: "branch", Branch: "main", SHA: "abc"}
		if err := tx.CreateWorkflow(s.workflow); err != nil {
			return err
		}
		s.pipeline = &ci.Pipeline{WorkflowID: s.workflow.ID, ProjectID: s.project.ID, Name: "p", State: ci.StateRunning}
		if err := tx.CreatePipeline(s.pipeline); err != nil {
			return err
		}
		s.block = &ci.Block{PipelineID: s.pipeline.ID, Name: "b", State: ci.StateRunning}
		return tx.CreateBlock(s.block)
	})
	return s
}

// job returns a queued job of the seed's block.
func (s *seed) job(name, machineType string, priority int, queuedAt time.Time) *ci.Job {
	return &ci.Job{
		PipelineID: s.pipeline.ID, BlockID: s.block.ID, ProjectID: s.project.ID,
		Name: name, State: ci.StateQueued, MachineType: machineType, Priority: priority,
		QueuedAt: queuedAt, WaitReason: "waiting for an agent",
	}
}

func TestOpenMemory(t *testing.T) {
	db := openDSN(t, "sqlite::memory:")
	if got := db.Dialect(); got != SQLite {
		t.Errorf("Dialect() = %q, want %q", got, SQLite)
	}
	write(t, db, func(tx *Tx) error { return tx.SetSetting("k", "v") })
	// A read through db uses the only connection, the writer's.
	got, err := db.GetSetting(t.Context(), "k")
	if err != nil || got != "v" {
		t.Errorf("GetSetting = %q, %v; want v", got, err)
	}
	// A second in-memory store is another database.
	other := openDSN(t, "sqlite::memory:")
	if _, err := other.GetSetting(t.Context(), "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSetting on another memory store: error = %v, want ErrNotFound", err)
	}
}

func TestOpenBadDSN(t *testing.T) {
	for _, dsn := range []string{"", "mysql://x", "sqlite:"} {
		if db, err := Open(t.Context(), dsn); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded, want an error", dsn)
		}
	}
	if got := redactDSN("postgres://u:secret@h/db"); got != "postgres://u:xxxxx@h/db" {
		t.Errorf("redactDSN = %q", got)
	}
}

// testMaxConns: with Options.MaxConns, however many transactions run at
// once, PostgreSQL sees at most that many connections of the DB (the
// others wait for one); SQLite ignores the option.
func testMaxConns(t *testing.T, e *testEnv) {
	dsn := e.newDSN(t)
	db, err := OpenWith(t.Context(), dsn, Options{MaxConns: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var peak, busy atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.Tx(t.Context(), func(tx *Tx) error {
				n := busy.Add(1)
				defer busy.Add(-1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				if e.dialect != Postgres {
					return nil
				}
				_, err := tx.exec("SELECT pg_sleep(0.05)")
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if e.dialect == SQLite {
		if got := peak.Load(); got != 1 {
			t.Fatalf("%d SQLite write transactions at once, want 1 (one writer)", got)
		}
		return
	}
	if got := peak.Load(); got != 3 {
		t.Fatalf("%d transactions at once, want 3 (the pool's cap)", got)
	}
	var conns int
	if err := e.admin.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", strings.TrimPrefix(mustURL(t, dsn).Path, "/")).Scan(&conns); err != nil {
		t.Fatal(err)
	}
	if conns > 3 {
		t.Fatalf("%d connections to the database, want at most 3", conns)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
