package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrationFS holds the schema changes, one directory per dialect, each
// file named NNN_name.sql. A migration is never edited once released: a
// change is a new file, in both directories.
//
//go:embed migrations
var migrationFS embed.FS

// migrateLockKey is the PostgreSQL advisory lock that serialises the
// migrations of servers starting at once ("baton" in ASCII).
const migrateLockKey = 0x626174_6f6e

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the dialect's migrations in order.
func migrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name is not NNN_name.sql", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same number", other, e.Name())
		}
		seen[v] = e.Name()
		b, err := migrationFS.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(e.Name(), ".sql"), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies the migrations the database lacks, all in one
// transaction, and records each in schema_migrations. On PostgreSQL the
// transaction first takes an advisory lock, so that of two servers opening
// a new database at once one migrates and the other then finds nothing to
// do; on SQLite, BEGIN IMMEDIATE does the same.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations(db.dialect)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return db.Tx(ctx, func(tx *Tx) error {
		if db.dialect == Postgres {
			if _, err := tx.exec(`SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
				return fmt.Errorf("migrate: lock: %w", err)
			}
		}
		timeType := "TEXT"
		if db.dialect == Postgres {
			timeType = "TIMESTAMPTZ"
		}
		if _, err := tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at ` + timeType + ` NOT NULL
		)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		applied := map[int]bool{}
		rows, err := tx.query(`SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return fmt.Errorf("migrate: %w", err)
			}
			applied[v] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		known := map[int]bool{}
		for _, m := range ms {
			known[m.version] = true
		}
		for v := range applied {
			if !known[v] {
				return fmt.Errorf("migrate: the database has migration %d, which this Baton does not know: it is newer than this binary", v)
			}
		}
		now := time.Now()
		for _, m := range ms {
			if applied[m.version] {
				continue
			}
			if _, err := tx.exec(m.sql); err != nil {
				return fmt.Errorf("migrate: %s: %w", m.name, err)
			}
			if _, err := tx.exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, tx.ts(now)); err != nil {
				return fmt.Errorf("migrate: %s: %w", m.name, err)
			}
		}
		return nil
	})
}
