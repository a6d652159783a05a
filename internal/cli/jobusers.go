package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/batonci/baton/internal/jobuser"
)

// workRoot is where agents that run as root keep their work directories
// by default: outside every data directory, which job users cannot enter.
const workRoot = "/var/lib/baton/work"

// runsAsRoot reports whether jobs can run as job users; tests replace it.
var runsAsRoot = jobuser.Enabled

// jobIsolation decides who an agent's jobs run as. As root: a job user
// per slot (or the one named), and a work directory outside the data
// directory (workDir, or workRoot/<hash of dataDir>). Otherwise jobs run
// as this user, which is said in one line on o.Err, and the work
// directory is workDir (the agent's default when empty).
func jobIsolation(o *IO, cmd, name string, slots int, workDir, dataDir string) (*jobuser.Pool, string, error) {
	if workDir != "" {
		abs, err := filepath.Abs(workDir)
		if err != nil {
			return nil, "", err
		}
		workDir = abs
	}
	if !runsAsRoot() {
		if name != "" {
			return nil, "", fmt.Errorf("--job-user %s: only root can run jobs as another user", name)
		}
		fmt.Fprintf(o.Err, "baton %s: %s\n", cmd, jobuser.Warning)
		return nil, workDir, nil
	}
	pool, err := jobuser.Open(jobuser.Options{Name: name, Slots: slots})
	if err != nil {
		return nil, "", err
	}
	if workDir == "" {
		sum := sha256.Sum256([]byte(dataDir))
		workDir = filepath.Join(workRoot, hex.EncodeToString(sum[:8]))
	}
	if rel, err := filepath.Rel(dataDir, workDir); err == nil && filepath.IsLocal(rel) || rel == "." {
		return nil, "", fmt.Errorf("--work-dir %s is inside the data directory %s, which job users cannot enter: choose a directory outside it", workDir, dataDir)
	}
	return pool, workDir, nil
}
