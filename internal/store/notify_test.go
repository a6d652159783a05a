package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

const notifyTimeout = 10 * time.Second

// recv returns the next payload of ch, failing the test after a while.
func recv(t *testing.T, what string, ch <-chan string) string {
	t.Helper()
	select {
	case p, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return p
	case <-time.After(notifyTimeout):
		t.Fatalf("%s: no notification in %v", what, notifyTimeout)
		return ""
	}
}

// wantRecv fails the test unless the next payloads of ch are want.
func wantRecv(t *testing.T, what string, ch <-chan string, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := recv(t, what, ch); got != w {
			t.Fatalf("%s: got %q, want %q", what, got, w)
		}
	}
}

// wantClosed fails the test unless ch is closed soon.
func wantClosed(t *testing.T, what string, ch <-chan string) {
	t.Helper()
	timeout := time.After(notifyTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("%s: channel not closed", what)
		}
	}
}

func testNotifyListen(t *testing.T, e *testEnv) {
	dsn := e.newDSN(t)
	db := openDSN(t, dsn)
	ctx := t.Context()
	jobs, err := db.Listen(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	jobs2, err := db.Listen(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.Listen(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}

	for i := range 50 {
		if err := db.Notify(ctx, "jobs", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		wantRecv(t, "listener 1", jobs, fmt.Sprint(i))
		wantRecv(t, "listener 2", jobs2, fmt.Sprint(i))
	}

	// Tx.Notify: on commit only.
	boom := errors.New("boom")
	err = db.Tx(ctx, func(tx *Tx) error {
		if err := tx.Notify("jobs", "rolled back"); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, "Tx", err, boom)
	write(t, db, func(tx *Tx) error {
		if err := tx.Notify("jobs", "committed"); err != nil {
			return err
		}
		return tx.SetSetting("k", "v")
	})
	wantRecv(t, "Tx.Notify", jobs, "committed")
	wantRecv(t, "Tx.Notify", jobs2, "committed")
	if err := db.Notify(ctx, "other", "o"); err != nil {
		t.Fatal(err)
	}
	wantRecv(t, "other channel", other, "o") // and no "jobs" payload before it

	// A listener that falls far behind gets "" in place of its backlog.
	slow, err := db.Listen(ctx, "slow")
	if err != nil {
		t.Fatal(err)
	}
	n := listenBacklog + 100
	for i := range n {
		if err := db.Notify(ctx, "slow", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for p := ""; p != fmt.Sprint(n-1); {
		p = recv(t, "slow listener", slow)
		got = append(got, p)
	}
	if len(got) >= n || !containsEmpty(got) {
		t.Errorf("slow listener got %d payloads (of %d sent), with \"\": %v; want fewer, with \"\"", len(got), n, containsEmpty(got))
	}

	// Bad channels.
	if _, err := db.Listen(ctx, ""); err == nil {
		t.Error("Listen(\"\") succeeded")
	}
	if err := db.Notify(ctx, "a\nb", "x"); err == nil {
		t.Error("Notify on a channel with a newline succeeded")
	}

	// A listener ends with its context, and all end when the DB closes.
	lctx, cancel := context.WithCancel(ctx)
	short, err := db.Listen(lctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	wantClosed(t, "listener whose context is done", short)
	db2 := openDSN(t, dsn)
	onClose, err := db2.Listen(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, "listener of a closed DB", onClose)
	if _, err := db2.Listen(ctx, "jobs"); !errors.Is(err, ErrClosed) {
		t.Errorf("Listen after Close: error = %v, want ErrClosed", err)
	}
}

func containsEmpty(ps []string) bool {
	for _, p := range ps {
		if p == "" {
			return true
		}
	}
	return false
}

// testNotifyAcrossServers: on PostgreSQL a notification reaches the
// listeners of every server, and each listener once; on SQLite, only those
// of the same process (DB).
func testNotifyAcrossServers(t *testing.T, e *testEnv) {
	dsn := e.newDSN(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	ctx := t.Context()
	la, err := a.Listen(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Listen(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if e.dialect == SQLite {
		if err := a.Notify(ctx, "jobs", "from a"); err != nil {
			t.Fatal(err)
		}
		wantRecv(t, "a's own listener", la, "from a")
		select {
		case p := <-lb:
			t.Errorf("b received %q from another DB on SQLite", p)
		case <-time.After(50 * time.Millisecond):
		}
		return
	}

	for _, p := range []string{"x", "y"} {
		if err := a.Notify(ctx, "jobs", p); err != nil {
			t.Fatal(err)
		}
	}
	write(t, a, func(tx *Tx) error { return tx.Notify("jobs", "z") })
	wantRecv(t, "b, from a", lb, "x", "y", "z")
	wantRecv(t, "a, from itself", la, "x", "y", "z")
	// a's own notifications come back to a from PostgreSQL before b's
	// does: a must skip them.
	write(t, b, func(tx *Tx) error { return tx.Notify("jobs", "from b") })
	wantRecv(t, "a, from b", la, "from b")
	wantRecv(t, "b, from itself", lb, "from b")
}

// testListenReconnect kills the PostgreSQL connection a DB listens on: its
// listeners get "" once it is back, then notifications again.
func testListenReconnect(t *testing.T, e *testEnv) {
	if e.dialect != Postgres {
		t.Skip("SQLite notifications have no connection to lose")
	}
	dsn := e.newDSN(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	ctx := t.Context()
	la, err := a.Listen(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Listen(ctx, "jobs"); err != nil { // b listens too: only a's connection is killed
		t.Fatal(err)
	}
	var killed int
	err = b.write.QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'baton-listen'
		AND pid <> pg_backend_pid()
		AND backend_start = (SELECT MIN(backend_start) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'baton-listen')`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("killing a's listening connection: %d killed, %v", killed, err)
	}
	wantRecv(t, "a after losing its connection", la, "")
	if err := b.Notify(ctx, "jobs", "after"); err != nil {
		t.Fatal(err)
	}
	wantRecv(t, "a after reconnecting", la, "after")
}
