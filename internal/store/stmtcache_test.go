package store

import (
	"path/filepath"
	"testing"
)

// TestSQLiteKeepsStatementsPrepared: a statement first run in a write
// transaction is prepared before the next one (not during it: the writer
// has one connection, which the transaction holds), a read's at once,
// and prepared statements give the same answers; several statements in
// one text are never prepared.
func TestSQLiteKeepsStatementsPrepared(t *testing.T) {
	db := openDSN(t, "sqlite:"+filepath.Join(t.TempDir(), "db"))
	ctx := t.Context()
	const insert = `INSERT INTO log_heads (job_id, next) VALUES ($1, 1) ON CONFLICT (job_id) DO NOTHING`
	cached := func(c *stmtCache, q string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.stmts[q] != nil
	}
	for i, job := range []string{"a", "b", "c"} {
		write(t, db, func(tx *Tx) error {
			_, err := tx.exec(insert, job)
			return err
		})
		if got, want := cached(db.writeStmts, insert), i > 0; got != want {
			t.Fatalf("after transaction %d: prepared = %v, want %v", i, got, want)
		}
	}
	for _, job := range []string{"a", "b", "c"} {
		h, err := db.GetLogHead(ctx, job)
		if err != nil || h.Next != 1 {
			t.Fatalf("head of %s: %+v %v", job, h, err)
		}
	}
	if !cached(db.readStmts, `SELECT next, sealed, archive_key FROM log_heads WHERE job_id = $1`) {
		t.Error("a read's statement is not prepared")
	}
	if _, err := db.GetLogHead(ctx, "nope"); err == nil {
		t.Error("a prepared read of a missing row found it")
	}
	write(t, db, func(tx *Tx) error {
		_, err := tx.exec(`UPDATE log_heads SET next = 2 WHERE job_id = 'a'; UPDATE log_heads SET next = 2 WHERE job_id = 'b'`)
		return err
	})
	write(t, db, func(tx *Tx) error { return nil })
	if cached(db.writeStmts, `UPDATE log_heads SET next = 2 WHERE job_id = 'a'; UPDATE log_heads SET next = 2 WHERE job_id = 'b'`) {
		t.Error("two statements in one text were prepared (only the first would run)")
	}
	if h, err := db.GetLogHead(ctx, "b"); err != nil || h.Next != 2 {
		t.Errorf("the second statement of a text did not run: %+v %v", h, err)
	}
}
