package toolbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

const semContextUsage = `sem-context put KEY=VALUE [--force] [--ignore-failure]
       sem-context get KEY [--fallback VALUE] [--ignore-failure]
       sem-context delete KEY [--ignore-failure]`

// sem-context's exit statuses.
const (
	ctxOK          = 0
	ctxNotFound    = 1 // put: exists; get, delete: not found
	ctxUnreachable = 2 // the store cannot be used
	ctxInvalid     = 3 // bad key, value or arguments
)

var contextKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{3,256}$`)

const contextValueLimit = 20_000

// runSemContext is Semaphore's sem-context: key-value pairs shared by the
// jobs of a workflow, in BATON_CONTEXT_DIR.
//
// As upstream, each pipeline writes to its own context, named by its
// artifact ID (the highest-numbered SEMAPHORE_PIPELINE_<n>_ARTEFACT_ID),
// and reads from its own and then its ancestors' (lower numbers); delete
// hides a key in the current pipeline only. So values flow from earlier
// blocks and from parent pipelines to promoted ones, and sibling
// promotions do not see each other's. Without those variables everything
// is one context.
func runSemContext(c *call, args []string) int {
	pos, fl, err := parseFlags(args, []flagSpec{
		{long: "force", short: "f"},
		{long: "fallback", value: true},
		{long: "ignore-failure"},
	})
	if errors.Is(err, errHelp) {
		fmt.Fprintf(c.stdout, "usage: %s\n", semContextUsage)
		return 0
	}
	if err != nil {
		c.errorf("%v", err)
		fmt.Fprintf(c.stderr, "usage: %s\n", semContextUsage)
		return ctxInvalid
	}
	exit := func(code int, format string, args ...any) int {
		if format != "" {
			c.errorf(format, args...)
		}
		if code != ctxOK && fl.has("ignore-failure") {
			return ctxOK
		}
		return code
	}
	if len(pos) != 2 {
		return exit(ctxInvalid, "want a subcommand and one argument\nusage: %s", semContextUsage)
	}
	sub, arg := pos[0], pos[1]
	root := c.getenv("BATON_CONTEXT_DIR")
	if root == "" {
		return exit(ctxUnreachable, "the context store is not available: BATON_CONTEXT_DIR is not set (sem-context works in jobs that baton runs)")
	}
	ids := contextIDs(c.environ)
	kv := &contextStore{root: root, ids: ids}

	switch sub {
	case "put":
		key, value, ok := strings.Cut(arg, "=")
		if !ok {
			return exit(ctxInvalid, "put expects one argument in the form key=value")
		}
		if err := checkContextKey(key); err != nil {
			return exit(ctxInvalid, "%v", err)
		}
		if value == "" {
			return exit(ctxInvalid, "the value cannot be an empty string")
		}
		if len(value) > contextValueLimit {
			return exit(ctxInvalid, "the value cannot be more than 20KB in size")
		}
		if !fl.has("force") {
			_, found, err := kv.get(key)
			if err != nil {
				return exit(ctxUnreachable, "%v", err)
			}
			if found {
				return exit(ctxNotFound, "key '%s' already exists; use --force to overwrite it", key)
			}
		}
		if err := kv.put(key, value); err != nil {
			return exit(ctxUnreachable, "%v", err)
		}
		c.infof("Key-value pair successfully stored")
		return ctxOK
	case "get":
		if err := checkContextKey(arg); err != nil {
			return exit(ctxInvalid, "%v", err)
		}
		value, found, err := kv.get(arg)
		if err != nil {
			return exit(ctxUnreachable, "%v", err)
		}
		if !found {
			if fl.has("fallback") {
				fmt.Fprintln(c.stdout, fl["fallback"])
				return ctxOK
			}
			return exit(ctxNotFound, "can't find the key '%s'", arg)
		}
		fmt.Fprintln(c.stdout, value)
		return ctxOK
	case "delete":
		if err := checkContextKey(arg); err != nil {
			return exit(ctxInvalid, "%v", err)
		}
		_, found, err := kv.get(arg)
		if err != nil {
			return exit(ctxUnreachable, "%v", err)
		}
		if !found {
			return exit(ctxNotFound, "key %s does not exist", arg)
		}
		if err := kv.delete(arg); err != nil {
			return exit(ctxUnreachable, "%v", err)
		}
		c.infof("Key '%s' deleted", arg)
		return ctxOK
	default:
		return exit(ctxInvalid, "unknown subcommand %q\nusage: %s", sub, semContextUsage)
	}
}

func checkContextKey(k string) error {
	if !contextKeyRE.MatchString(k) {
		return fmt.Errorf("invalid key %q: a key must be between 3 and 256 characters in length, and can contain letters, digits, and characters _ and - (no spaces)", k)
	}
	return nil
}

var artefactVarRE = regexp.MustCompile(`^SEMAPHORE_PIPELINE_([0-9]+)_ARTEFACT_ID$`)

// contextIDs returns the context of the current pipeline followed by its
// ancestors', from the SEMAPHORE_PIPELINE_<n>_ARTEFACT_ID variables
// (highest n first), or SEMAPHORE_PIPELINE_ARTEFACT_ID alone, or "local".
func contextIDs(env []string) []string {
	type pid struct {
		n  int
		id string
	}
	var found []pid
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if m := artefactVarRE.FindStringSubmatch(k); m != nil && validContextID(v) {
			n, _ := strconv.Atoi(m[1])
			found = slices.DeleteFunc(found, func(p pid) bool { return p.n == n })
			found = append(found, pid{n, v})
		}
	}
	slices.SortFunc(found, func(a, b pid) int { return b.n - a.n })
	var ids []string
	for _, p := range found {
		ids = append(ids, p.id)
	}
	if len(ids) == 0 {
		if id := lookup(env, "SEMAPHORE_PIPELINE_ARTEFACT_ID"); validContextID(id) {
			ids = []string{id}
		} else {
			ids = []string{"local"}
		}
	}
	return ids
}

func validContextID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`)
}

// contextStore keeps each context in root/<id>: a file per key, and
// .deleted/<key> for keys deleted in that context.
type contextStore struct {
	root string
	ids  []string // current first
}

func (s *contextStore) get(key string) (string, bool, error) {
	for _, id := range s.ids {
		dir := filepath.Join(s.root, id)
		if _, err := os.Stat(filepath.Join(dir, ".deleted", key)); err == nil {
			return "", false, nil
		}
		data, err := os.ReadFile(filepath.Join(dir, key))
		if err == nil {
			return string(data), true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", false, err
		}
	}
	return "", false, nil
}

func (s *contextStore) put(key, value string) error {
	dir := filepath.Join(s.root, s.ids[0])
	if err := writeFileAtomic(filepath.Join(dir, key), []byte(value)); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(dir, ".deleted", key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (s *contextStore) delete(key string) error {
	dir := filepath.Join(s.root, s.ids[0])
	err := os.Remove(filepath.Join(dir, key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, ".deleted", key), nil)
}

// writeFileAtomic writes a file that readers see whole or not at all.
func writeFileAtomic(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
