package audit_test

import (
	"path/filepath"
	"testing"

	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/store"
)

func TestRecordTakesActorAndIPFromTheRequest(t *testing.T) {
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := audit.WithRequest(t.Context(), "ada", "192.0.2.1")
	err = db.Tx(ctx, func(tx *store.Tx) error {
		if err := audit.Record(ctx, tx, audit.Event{Action: audit.SecretChanged, Target: "aws", ProjectID: "p1"}); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.SignInFailed, Actor: "bob"})
	})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := db.ListAudit(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2", len(evs))
	}
	if e := evs[1]; e.Action != "secret.changed" || e.Actor != "ada" || e.IP != "192.0.2.1" || e.Target != "aws" || e.ProjectID != "p1" || e.At.IsZero() {
		t.Errorf("first event = %+v", e)
	}
	if e := evs[0]; e.Actor != "bob" || e.IP != "192.0.2.1" {
		t.Errorf("second event = %+v, want actor bob (given), ip from the request", e)
	}
}
