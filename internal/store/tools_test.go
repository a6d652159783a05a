package store

import (
	"slices"
	"testing"

	"github.com/batonci/baton/internal/ci"
)

func testGlobalTools(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	if got, err := db.ListGlobalTools(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ListGlobalTools of a new database = %#v, %v; want an empty list", got, err)
	}
	want := []ci.GlobalTool{{Kind: "npm", Name: "serverless", Version: "3"}, {Kind: "npm", Name: "yarn", Version: "1"}, {Kind: "go", Name: "golang.org/x/tools/cmd/stringer", Version: "latest"}}
	write(t, db, func(tx *Tx) error { return tx.SetGlobalTools(want) })
	if got, err := db.ListGlobalTools(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("ListGlobalTools = %v, %v; want %v in that order", got, err, want)
	}
	write(t, db, func(tx *Tx) error { return tx.SetGlobalTools(want[1:2]) })
	if got, err := db.ListGlobalTools(ctx); err != nil || !slices.Equal(got, want[1:2]) {
		t.Errorf("after replacing: %v, %v", got, err)
	}
}
