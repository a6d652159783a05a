package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/logshare"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/store"
)

// TestLegacyLogsAreImported: logs an earlier version kept in DATA/logs
// (one sealed, one still being written) are served from the shared logs
// after the import, and the import happens once.
func TestLegacyLogsAreImported(t *testing.T) {
	data := t.TempDir()
	ctx := t.Context()
	old, err := logstore.Open(filepath.Join(data, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"sealed-job", "open-job"} {
		for seq := range 3 {
			if err := old.Append(ctx, id, logstore.Chunk{Seq: seq, Events: []ci.Event{{Kind: ci.EventCmdOutput, Output: fmt.Sprintf("%s %d\n", id, seq)}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := old.Seal("sealed-job"); err != nil {
		t.Fatal(err)
	}
	old.Close()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(data, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blobs, err := blob.OpenDir(filepath.Join(data, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	logs, err := logstore.OpenReplica(filepath.Join(data, "log-replicas"), logshare.New(db, blobs))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	n, err := importLegacyLogs(ctx, filepath.Join(data, "logs"), logs)
	if err != nil || n != 2 {
		t.Fatalf("import: %d, %v", n, err)
	}
	for id, sealed := range map[string]bool{"sealed-job": true, "open-job": false} {
		info, err := logs.Info(id)
		if err != nil || info.Sealed != sealed || info.Chunks != 3 {
			t.Errorf("%s: %+v %v", id, info, err)
		}
		lines, _, err := logs.Lines(ctx, id, 0, -1)
		if err != nil || len(lines) != 3 || !strings.HasPrefix(lines[2].Text, id+" 2") {
			t.Errorf("%s lines: %+v %v", id, lines, err)
		}
	}
	// The open log goes on where it stopped.
	if err := logs.Append(ctx, "open-job", logstore.Chunk{Seq: 3, Events: []ci.Event{{Kind: ci.EventCmdOutput, Output: "more\n"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "logs")); !os.IsNotExist(err) {
		t.Errorf("DATA/logs still there after the import: %v", err)
	}
	if n, err := importLegacyLogs(ctx, filepath.Join(data, "logs"), logs); err != nil || n != 0 {
		t.Errorf("second import: %d, %v", n, err)
	}
}
