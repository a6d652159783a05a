// Package store keeps the CI service's state (projects, workflows,
// pipelines, blocks, jobs, agents, users, tokens, settings, poll state and
// webhook deliveries) in SQLite, the embedded default, or in PostgreSQL,
// which several Baton servers can share.
//
// The SQL is hand-written on database/sql and the same statement text runs
// on both dialects (both accept $N parameters, ON CONFLICT and RETURNING);
// the few differences (row locks) are spelled out where they occur. Each
// dialect has its own embedded migrations, applied by Open.
//
// Writes go through [DB.Tx]: fn receives a [Tx] whose methods run inside one
// transaction, committed when fn returns nil. On SQLite every write
// transaction is BEGIN IMMEDIATE on a single writer connection, so a
// read-then-write never deadlocks; on PostgreSQL transactions run at READ
// COMMITTED and take explicit row locks ([Tx.LockPipeline], [Tx.ClaimJob]).
// Every read is also a method of [DB], taking a context.
//
// Stored values are normalised: times are kept in UTC with microsecond
// precision and durations as whole milliseconds. Create and Update methods
// normalise the value they are given to what is stored, so that the value
// written equals the value read back.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/batonci/baton/internal/ids"
)

// The errors callers branch on. Store errors wrap them, so test with
// errors.Is.
var (
	// ErrNotFound is returned when a row does not exist, including when a
	// write refers to a parent (project, pipeline, user...) that does not.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a write would violate a uniqueness
	// constraint, such as a project name or a login already taken.
	ErrConflict = errors.New("conflict")
	// ErrClosed is returned by Listen after the DB was closed.
	ErrClosed = errors.New("store closed")
)

// The dialects, as [DB.Dialect] reports them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

const (
	// sqliteBusyTimeout is how long SQLite waits for another process's
	// write lock before returning SQLITE_BUSY.
	sqliteBusyTimeout = 10 * time.Second
	// txAttempts bounds how many times Tx runs fn when the database asks
	// for a retry (SQLITE_BUSY, serialization failure, deadlock).
	txAttempts = 5
	// DefaultMaxConns is Options.MaxConns's default: a server's
	// PostgreSQL connections, whatever the number of agents.
	DefaultMaxConns = 20
)

// Options tune Open.
type Options struct {
	// MaxConns caps the connections to PostgreSQL of this DB's pool
	// (default DefaultMaxConns); notifications use one more, and
	// UrgentTx one more. Requests beyond it wait for a connection. SQLite
	// ignores it.
	MaxConns int
}

// DB is an open store. It is safe for concurrent use.
type DB struct {
	dialect string
	dsn     string
	opts    Options
	// write runs every transaction of Tx. On SQLite it has a single
	// connection that begins transactions with BEGIN IMMEDIATE.
	write *sql.DB
	// read runs the reads of DB's methods. On SQLite files it is a pool of
	// query_only connections (WAL lets them read while a write is in
	// progress); elsewhere it is write.
	read *sql.DB
	// urgent runs UrgentTx: on PostgreSQL one connection of its own,
	// elsewhere write.
	urgent *sql.DB
	// writeStmts and readStmts keep SQLite's statements prepared on
	// write and read (nil on PostgreSQL).
	writeStmts, readStmts *stmtCache

	// instance tells this DB's own notifications from other servers'.
	instance string
	hub      *hub
	listener *pgListener // nil on SQLite

	// bg is done once Close was called; it stops the goroutines of
	// notifications, which wg waits for.
	bg     context.Context
	close  context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool // no goroutine starts once set
}

// spawn runs fn in a goroutine that Close waits for, unless the DB was
// closed.
func (db *DB) spawn(fn func()) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	db.wg.Add(1)
	go func() {
		defer db.wg.Done()
		fn()
	}()
	return nil
}

// Open opens the store named by dsn and applies the migrations it lacks.
//
// The dsn is "sqlite:PATH" (the file is created if needed),
// "sqlite::memory:" (a private in-memory database, for tests), or a
// PostgreSQL URL "postgres://..." or "postgresql://..." whose database
// must exist.
func Open(ctx context.Context, dsn string) (*DB, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, opts Options) (_ *DB, err error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	db := &DB{dsn: dsn, instance: ids.New(), opts: opts}
	db.bg, db.close = context.WithCancel(context.Background())
	db.hub = newHub(db)
	defer func() {
		if err != nil {
			db.close()
			db.closePools()
			err = fmt.Errorf("open store: %w", err)
		}
	}()
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		db.dialect = SQLite
		err = db.openSQLite(strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db.dialect = Postgres
		err = db.openPostgres()
	default:
		err = fmt.Errorf("unsupported dsn %q: want sqlite:PATH or postgres://...", redactDSN(dsn))
	}
	if err != nil {
		return nil, err
	}
	if err := db.ping(ctx); err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

func (db *DB) openSQLite(path string) error {
	if path == "" {
		return errors.New("empty sqlite path")
	}
	// Extra query parameters in the dsn are passed to the driver.
	path, extra, _ := strings.Cut(path, "?")
	params := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()),
		"_pragma=foreign_keys(1)",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
	}
	if extra != "" {
		params = append(params, extra)
	}
	base := path + "?" + strings.Join(params, "&")

	// The writer's page cache holds a big transaction's pages (20,000
	// test outcomes and their indexes are about 10 MB) until it commits,
	// instead of spilling them to the WAL page by page on the way.
	w, err := sql.Open("sqlite", base+"&_txlock=immediate&_pragma=cache_size(-65536)")
	if err != nil {
		return err
	}
	// One writer: transactions queue in database/sql instead of fighting
	// for SQLite's lock, and BEGIN IMMEDIATE takes the lock up front.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db.write, db.read, db.urgent = w, w, w
	db.writeStmts = newStmtCache(w)
	db.readStmts = db.writeStmts
	if path == ":memory:" {
		// Every connection to :memory: is a different database, so the
		// only connection also serves the reads.
		return nil
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.read = r
	db.readStmts = newStmtCache(r)
	return nil
}

func (db *DB) openPostgres() error {
	d, err := sql.Open("pgx", db.dsn)
	if err != nil {
		return err
	}
	d.SetMaxOpenConns(db.opts.MaxConns)
	// Every connection may stay idle: a connection closed when the load
	// dips is opened again at the next burst, and a new PostgreSQL
	// connection is a new server process (forked, authenticated, its
	// caches cold). Under a thousand agents' bursts, closing half of
	// the pool on every dip halved the jobs handed out per second.
	d.SetMaxIdleConns(db.opts.MaxConns)
	d.SetConnMaxIdleTime(5 * time.Minute)
	db.write, db.read = d, d
	u, err := sql.Open("pgx", db.dsn)
	if err != nil {
		d.Close()
		return err
	}
	u.SetMaxOpenConns(1)
	u.SetMaxIdleConns(1)
	u.SetConnMaxIdleTime(5 * time.Minute)
	db.urgent = u
	db.listener = &pgListener{db: db}
	return nil
}

func (db *DB) ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return err
	}
	if db.read != db.write {
		return db.read.PingContext(ctx)
	}
	return nil
}

// Close stops the notification listeners and closes the database. Channels
// returned by Listen are closed.
func (db *DB) Close() error {
	db.mu.Lock()
	db.closed = true
	db.mu.Unlock()
	db.close()
	db.wg.Wait()
	return db.closePools()
}

func (db *DB) closePools() error {
	var errs []error
	for _, c := range []*stmtCache{db.readStmts, db.writeStmts} {
		if c != nil {
			c.close()
		}
	}
	if db.urgent != nil && db.urgent != db.write {
		errs = append(errs, db.urgent.Close())
	}
	if db.read != nil && db.read != db.write {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// MaxConns is the most connections the pool most work runs on opens
// (Options.MaxConns, defaulted).
func (db *DB) MaxConns() int { return db.opts.MaxConns }

// PoolStats returns the statistics of the pool of connections most work
// runs on (on SQLite, its one writer), for the server's metrics.
func (db *DB) PoolStats() sql.DBStats { return db.write.Stats() }

// Tx runs fn in a write transaction and commits it when fn returns nil; it
// rolls back and returns fn's error otherwise (or re-panics).
//
// When the database reports a transient conflict (SQLITE_BUSY, or a
// PostgreSQL serialization failure or deadlock), the transaction is rolled
// back and fn runs again, a bounded number of times; fn must therefore have
// no effects outside tx. Inside fn, use tx and not db: on SQLite a nested
// db.Tx waits forever for the single writer, and on an in-memory database
// so does a read through db.
//
// Notifications sent with [Tx.Notify] are delivered once the transaction
// commits.
func (db *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	return db.retry(ctx, func() error { return db.tryTx(ctx, fn) })
}

// retry runs try until it succeeds, fails for good or has run txAttempts
// times (see Tx).
func (db *DB) retry(ctx context.Context, try func() error) error {
	backoff := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil || attempt == txAttempts || !db.retryable(err) {
			return err
		}
		// Jitter so that colliding transactions do not collide again.
		wait := backoff/2 + rand.N(backoff)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		backoff *= 2
	}
}

// UrgentTx is Tx on a connection of its own (on PostgreSQL), for the
// little work that must not wait behind the pool's queue however long it
// is: recording that agents are alive. Keep it short: it is one
// connection.
func (db *DB) UrgentTx(ctx context.Context, fn func(tx *Tx) error) error {
	return db.retry(ctx, func() error { return db.tryTxOn(ctx, db.urgent, fn) })
}

func (db *DB) tryTx(ctx context.Context, fn func(tx *Tx) error) error {
	return db.tryTxOn(ctx, db.write, fn)
}

func (db *DB) tryTxOn(ctx context.Context, pool *sql.DB, fn func(tx *Tx) error) error {
	var opts *sql.TxOptions
	if db.dialect == Postgres {
		// Whatever the server's default: rows are locked explicitly.
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	// SQLite's statements are kept prepared on write (which urgent is,
	// on SQLite).
	stmts := db.writeStmts
	if pool != db.write {
		stmts = nil
	}
	if stmts != nil {
		stmts.prepareNoted(ctx)
	}
	stx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{ctx: ctx, q: stx, stx: stx, stmts: stmts, db: db}
	done := false
	defer func() {
		if !done {
			stx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	done = true
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, n := range tx.notes {
		db.hub.deliver(n.channel, n.payload)
	}
	return nil
}

// view runs fn in a read-only transaction on the read pool, for reads made
// of several queries that must see one state.
func (db *DB) view(ctx context.Context, fn func(tx *Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	if db.readStmts != nil {
		db.readStmts.prepareNoted(ctx)
	}
	stx, err := db.read.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer stx.Rollback()
	return fn(&Tx{ctx: ctx, q: stx, stx: stx, stmts: db.readStmts, db: db})
}

// reader returns a Tx that runs each query on its own on the read pool.
func (db *DB) reader(ctx context.Context) *Tx {
	return &Tx{ctx: ctx, q: db.read, stmts: db.readStmts, db: db}
}

// autocommit returns a Tx that runs each statement on its own on the
// write pool, each committed as it runs: a write of one statement then
// costs one round trip instead of three (BEGIN, it, COMMIT).
func (db *DB) autocommit(ctx context.Context) *Tx {
	return &Tx{ctx: ctx, q: db.write, db: db}
}

// retryable reports whether err is a transient conflict worth a retry.
func (db *DB) retryable(err error) bool {
	var serr *sqlite.Error
	if errors.As(err, &serr) {
		return serr.Code()&0xff == sqlite3.SQLITE_BUSY
	}
	var perr *pgconn.PgError
	if errors.As(err, &perr) {
		return perr.Code == "40001" || perr.Code == "40P01" // serialization_failure, deadlock_detected
	}
	return false
}

// querier is what Tx needs of *sql.Tx and *sql.DB.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is a transaction started by [DB.Tx]. Its methods must not be used
// after fn returns, nor from several goroutines at once.
//
// After a method returns an error other than ErrNotFound, the transaction
// may be unusable (PostgreSQL aborts it): return the error from fn.
type Tx struct {
	// ctx is the context of DB.Tx: a Tx lives only for the call of fn.
	ctx context.Context
	q   querier
	// stx is q when it is a transaction; stmts, when set, holds the
	// statements prepared on its pool.
	stx   *sql.Tx
	stmts *stmtCache
	db    *DB
	notes []note
}

func (tx *Tx) exec(query string, args ...any) (sql.Result, error) {
	if st := tx.prepared(query); st != nil {
		return st.ExecContext(tx.ctx, args...)
	}
	return tx.q.ExecContext(tx.ctx, query, args...)
}

func (tx *Tx) query(query string, args ...any) (*sql.Rows, error) {
	if st := tx.prepared(query); st != nil {
		return st.QueryContext(tx.ctx, args...)
	}
	return tx.q.QueryContext(tx.ctx, query, args...)
}

func (tx *Tx) queryRow(query string, args ...any) *sql.Row {
	if st := tx.prepared(query); st != nil {
		return st.QueryRowContext(tx.ctx, args...)
	}
	return tx.q.QueryRowContext(tx.ctx, query, args...)
}

// prepared returns the prepared statement to run query with, or nil to
// run it as text. In a transaction it is the cached statement bound to
// the transaction's connection, where it is already prepared after the
// first use (database/sql keeps it with the connection; the bound copy
// is released when the transaction ends).
func (tx *Tx) prepared(query string) *sql.Stmt {
	if tx.stmts == nil {
		return nil
	}
	st := tx.stmts.lookup(tx.ctx, query, tx.stx != nil)
	if st == nil || tx.stx == nil {
		return st
	}
	return tx.stx.StmtContext(tx.ctx, st)
}

// forUpdate is the row-locking clause of a SELECT: PostgreSQL needs it;
// SQLite has none, and needs none, since its write transactions hold the
// database lock from BEGIN IMMEDIATE on.
func (tx *Tx) forUpdate() string {
	if tx.db.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// execOne runs a statement that must change exactly one row, and returns
// ErrNotFound when it changed none.
func (tx *Tx) execOne(op string, query string, args ...any) error {
	res, err := tx.exec(query, args...)
	if err != nil {
		return wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return nil
}

// wrap names the operation and maps driver errors to ErrNotFound and
// ErrConflict, keeping the driver's error in the chain.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	var serr *sqlite.Error
	if errors.As(err, &serr) {
		switch serr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w: %w", op, ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: %w: %w", op, ErrNotFound, err)
		}
	}
	var perr *pgconn.PgError
	if errors.As(err, &perr) {
		switch perr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%s: %w: %w", op, ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%s: %w: %w", op, ErrNotFound, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// redactDSN hides a password in a URL-like dsn for error messages.
func redactDSN(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return dsn
	}
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return dsn
}
