package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/batonci/baton/internal/logstore"
)

// importLegacyLogs moves the logs that earlier versions kept in files
// under dir (DATA/logs) into the shared logs, once: chunk by chunk, with
// the seal, then renames dir to dir.imported. Logs the shared store
// already has are left alone, so servers sharing the data directory may
// import at the same time.
func importLegacyLogs(ctx context.Context, dir string, logs *logstore.Store) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("import logs: %w", err)
	}
	legacy, err := logstore.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("import logs: %w", err)
	}
	defer legacy.Close()
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		id := e.Name()
		info, err := legacy.Info(id)
		if err != nil {
			continue // not a log
		}
		if have, err := logs.Info(id); err == nil && (have.Sealed || have.Chunks >= info.Chunks) {
			continue
		}
		for seq := range info.Chunks {
			evs, err := legacy.Events(ctx, id, seq, seq+1)
			if err != nil {
				return n, fmt.Errorf("import log %s: %w", id, err)
			}
			if err := logs.Append(ctx, id, logstore.Chunk{Seq: seq, Events: evs}); err != nil && !errors.Is(err, logstore.ErrSealed) {
				return n, fmt.Errorf("import log %s: %w", id, err)
			}
		}
		if info.Sealed {
			if err := logs.Seal(id); err != nil {
				return n, fmt.Errorf("import log %s: %w", id, err)
			}
		}
		n++
	}
	legacy.Close()
	if err := os.Rename(dir, dir+".imported"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return n, fmt.Errorf("import logs: %w", err)
	}
	return n, nil
}
