package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/batonci/baton/internal/ci"
)

type appliedMigration struct {
	Version int
	Name    string
	At      string
}

func appliedMigrations(t *testing.T, db *DB) []appliedMigration {
	t.Helper()
	rows, err := db.read.QueryContext(t.Context(), `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []appliedMigration
	for rows.Next() {
		var m appliedMigration
		var at any
		if err := rows.Scan(&m.Version, &m.Name, &at); err != nil {
			t.Fatal(err)
		}
		m.At = fmt.Sprint(at)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func testMigrations(t *testing.T, e *testEnv) {
	ms, err := migrations(e.dialect)
	if err != nil {
		t.Fatal(err)
	}
	dsn := e.newDSN(t)
	first := appliedMigrations(t, openDSN(t, dsn))
	if len(first) != len(ms) {
		t.Fatalf("applied %d migrations, want %d", len(first), len(ms))
	}
	for i, m := range ms {
		if first[i].Version != m.version || first[i].Name != m.name {
			t.Errorf("applied[%d] = %d %s, want %d %s", i, first[i].Version, first[i].Name, m.version, m.name)
		}
	}
	// A second Open applies nothing.
	second := appliedMigrations(t, openDSN(t, dsn))
	diff(t, "schema_migrations after the second Open", second, first)
}

func testConcurrentMigrations(t *testing.T, e *testEnv) {
	ms, err := migrations(e.dialect)
	if err != nil {
		t.Fatal(err)
	}
	dsn := e.newDSN(t)
	const servers = 4
	dbs := make([]*DB, servers)
	errs := make([]error, servers)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i := range servers {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		t.Cleanup(func() { dbs[i].Close() })
	}
	if t.Failed() {
		return
	}
	if got := appliedMigrations(t, dbs[0]); len(got) != len(ms) {
		t.Errorf("applied %d migrations, want %d: %v", len(got), len(ms), got)
	}
	// Every handle works.
	for i, db := range dbs {
		write(t, db, func(tx *Tx) error { return tx.CreateProject(&ci.Project{Name: "p" + string(rune('a'+i))}) })
	}
}

func testTx(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	boom := errors.New("boom")
	err := db.Tx(ctx, func(tx *Tx) error {
		if err := tx.CreateProject(&ci.Project{Name: "rolled-back"}); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, "Tx returning an error", err, boom)
	_, err = db.GetProject(ctx, "rolled-back")
	wantErr(t, "project of a rolled-back Tx", err, ErrNotFound)

	func() {
		defer func() {
			if r := recover(); r != "panic in fn" {
				t.Errorf("recovered %v, want the panic of fn", r)
			}
		}()
		db.Tx(ctx, func(tx *Tx) error {
			if err := tx.CreateProject(&ci.Project{Name: "panicked"}); err != nil {
				return err
			}
			panic("panic in fn")
		})
	}()
	_, err = db.GetProject(ctx, "panicked")
	wantErr(t, "project of a panicked Tx", err, ErrNotFound)

	// The database still works after both.
	write(t, db, func(tx *Tx) error { return tx.CreateProject(&ci.Project{Name: "committed"}) })
	if _, err := db.GetProject(ctx, "committed"); err != nil {
		t.Errorf("GetProject after commit: %v", err)
	}
}
