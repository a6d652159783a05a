package toolbox

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/batonci/baton/internal/jobsvc"
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

// Compiled on first use: a counted repetition compiles to thousands of
// allocations, which every baton process (a job supervisor, a toolbox
// command) would otherwise pay when it starts.
var contextKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{3,256}$`) })

const contextValueLimit = 20_000

// runSemContext is Semaphore's sem-context: key-value pairs shared by the
// jobs of a workflow, kept by the job service (BATON_JOBSVC).
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
	svc, err := jobsvc.NewClient(c.getenv)
	if err != nil {
		return exit(ctxUnreachable, "the context store is not available: %v (sem-context works in jobs that baton runs)", err)
	}
	kv := &contextStore{ctx: c.ctx, svc: svc, ids: contextIDs(c.environ)}

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
	if !contextKeyRE().MatchString(k) {
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

// contextStore is the workflow's contexts, as the job service keeps them.
type contextStore struct {
	ctx context.Context
	svc *jobsvc.Client
	ids []string // current first
}

func (s *contextStore) get(key string) (string, bool, error) {
	return s.svc.ContextGet(s.ctx, s.ids, key)
}

func (s *contextStore) put(key, value string) error {
	return s.svc.ContextPut(s.ctx, s.ids[0], key, value)
}

func (s *contextStore) delete(key string) error {
	return s.svc.ContextDelete(s.ctx, s.ids[0], key)
}
