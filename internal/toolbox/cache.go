package toolbox

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/jobsvc"
)

const cacheUsage = `cache store [KEY PATH] [--cleanup-by STORE_TIME|ACCESS_TIME|SIZE]
       cache restore [KEY[,KEY...]]
       cache has_key KEY
       cache list [--sort-by STORE_TIME|ACCESS_TIME|SIZE]
       cache delete KEY
       cache clear
       cache usage
       cache is_not_empty
       cache checksum FILE`

// defaultCacheSize is the cache's size limit unless CACHE_SIZE (in KiB)
// says otherwise: that of Semaphore's hosted cache.
const defaultCacheSize = jobsvc.DefaultCacheSize

// runCache is Semaphore's cache-cli against the project's cache, through
// the job service (BATON_JOBSVC): the job never writes the cache itself,
// and the service refuses store, delete and clear for pull requests from
// forks.
//
// As upstream, failures are reported and ignored (exit status 0), so a
// cache problem never fails a job, unless CACHE_FAIL_ON_ERROR=true.
// has_key and is_not_empty answer with their exit status.
func runCache(c *call, args []string) int {
	if len(args) == 0 {
		return c.usageError(cacheUsage, "missing subcommand")
	}
	sub, rest := args[0], args[1:]
	if sub == "-h" || sub == "--help" || sub == "help" {
		fmt.Fprintf(c.stdout, "usage: %s\n", cacheUsage)
		return 0
	}
	specs := map[string][]flagSpec{
		"store":        {{long: "cleanup-by", short: "c", value: true}},
		"restore":      nil,
		"has_key":      nil,
		"list":         {{long: "sort-by", short: "s", value: true}},
		"delete":       nil,
		"clear":        nil,
		"usage":        nil,
		"is_not_empty": nil,
		"checksum":     nil,
	}
	spec, ok := specs[sub]
	if !ok {
		return c.usageError(cacheUsage, "unknown subcommand %q", sub)
	}
	pos, fl, err := parseFlags(rest, spec)
	if errors.Is(err, errHelp) {
		fmt.Fprintf(c.stdout, "usage: %s\n", cacheUsage)
		return 0
	}
	if err != nil {
		return c.usageError(cacheUsage, "%v", err)
	}
	if sub == "checksum" {
		return checksum(c, pos)
	}
	// A yes/no question fails with "no" when it cannot be answered.
	question := sub == "has_key" || sub == "is_not_empty"
	fail := func(format string, args ...any) int {
		c.errorf(format, args...)
		if question || c.getenv("CACHE_FAIL_ON_ERROR") == "true" {
			return 1
		}
		return 0
	}

	st, err := openCacheStore(c)
	if errors.Is(err, jobsvc.ErrUnavailable) {
		c.infof("caching is not available here (%s is not set: the cache works in jobs that baton runs); %s does nothing", jobsvc.SocketVar, sub)
		if question {
			return 1
		}
		return 0
	}
	if err != nil {
		return fail("%v", err)
	}
	// A refusal is not an error: a pipeline that stores its cache still
	// passes on a pull request from a fork.
	refused := func(err error) bool {
		if jobsvc.IsStatus(err, http.StatusForbidden) {
			c.infof("%v", err)
			return true
		}
		return false
	}

	switch sub {
	case "store":
		return cacheStoreCmd(c, st, pos, fl, fail, refused)
	case "restore":
		return cacheRestore(c, st, pos, fail)
	case "has_key":
		if len(pos) != 1 {
			return c.usageError(cacheUsage, "has_key needs exactly one key")
		}
		key := normalizeKey(pos[0])
		ok, err := st.has(key)
		if err != nil {
			return fail("%v", err)
		}
		if !ok {
			c.infof("Key '%s' doesn't exist in the cache store.", key)
			return 1
		}
		c.infof("Key '%s' exists in the cache store.", key)
		return 0
	case "list":
		return cacheList(c, st, pos, fl, fail)
	case "delete":
		if len(pos) != 1 {
			return fail("delete needs exactly one key")
		}
		key := normalizeKey(pos[0])
		deleted, err := st.delete(key)
		if refused(err) {
			return 0
		}
		if err != nil {
			return fail("%v", err)
		}
		if deleted {
			c.infof("Key '%s' is deleted.", key)
		} else {
			c.infof("Key '%s' doesn't exist in the cache store.", key)
		}
		return 0
	case "clear":
		if err := st.clear(); refused(err) {
			return 0
		} else if err != nil {
			return fail("%v", err)
		}
		c.infof("Deleted all caches.")
		return 0
	case "usage":
		u, err := st.svc.CacheUsage(st.ctx, st.maxSize)
		if err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(c.stdout, "FREE SPACE: %s\nUSED SPACE: %s\n", humanSize(max(0, u.Budget-u.Used)), humanSize(u.Used))
		return 0
	case "is_not_empty":
		entries, err := st.list(sortStoreTime)
		if err != nil {
			return fail("%v", err)
		}
		if len(entries) == 0 {
			return 1
		}
		return 0
	}
	panic("unreachable")
}

func cacheStoreCmd(c *call, st *cacheStore, pos []string, fl flags, fail func(string, ...any) int, refused func(error) bool) int {
	order := fl["cleanup-by"]
	if order == "" {
		order = sortStoreTime
	}
	if !validSort(order) {
		return fail("--cleanup-by %s: want STORE_TIME, ACCESS_TIME or SIZE", order)
	}
	type item struct{ key, path string }
	var items []item
	switch len(pos) {
	case 2:
		items = []item{{normalizeKey(pos[0]), pos[1]}}
	case 0:
		for _, d := range detectLockFiles(c, false) {
			c.infof("Detected %s.", d.file)
			for _, e := range d.entries {
				items = append(items, item{e.keys[0], e.path})
			}
		}
		if len(items) == 0 {
			c.infof("Nothing to store in the cache: no known lock file (package-lock.json, go.sum, Gemfile.lock...) in %s.", c.dir)
			return 0
		}
	default:
		return fail("store takes a key and a path, or nothing (to detect them from lock files); got %d arguments", len(pos))
	}
	status := 0
	for _, it := range items {
		if err := jobsvc.ValidKey(it.key); err != nil {
			status = max(status, fail("%v", err))
			continue
		}
		if _, err := os.Lstat(c.abs(it.path)); err != nil {
			c.infof("Path %s does not exist.", it.path)
			continue
		}
		if ok, err := st.has(it.key); err != nil {
			status = max(status, fail("%v", err))
			continue
		} else if ok {
			c.infof("Key '%s' already exists.", it.key)
			continue
		}
		start := time.Now()
		c.infof("Compressing %s...", it.path)
		size, stored, err := st.store(c.ctx, it.key, it.path, c.dir, order)
		if refused(err) {
			continue
		}
		if err != nil {
			status = max(status, fail("store %s: %v", it.key, err))
			continue
		}
		if !stored {
			c.infof("Key '%s' already exists.", it.key)
			continue
		}
		c.infof("Stored '%s' with cache key '%s' (%s, %s).", it.path, it.key, humanSize(size), time.Since(start).Round(time.Millisecond))
	}
	return status
}

func cacheRestore(c *call, st *cacheStore, pos []string, fail func(string, ...any) int) int {
	type item struct {
		keys []string
		path string
	}
	var items []item
	switch len(pos) {
	case 1:
		items = []item{{keys: strings.Split(pos[0], ",")}}
	case 0:
		for _, d := range detectLockFiles(c, true) {
			c.infof("Detected %s.", d.file)
			for _, e := range d.entries {
				items = append(items, item{e.keys, e.path})
			}
		}
		if len(items) == 0 {
			c.infof("Nothing to restore from cache.")
			return 0
		}
	default:
		return fail("restore takes one argument: keys separated by commas")
	}
	status := 0
	for _, it := range items {
		if it.path != "" {
			c.infof("Fetching '%s' directory with cache keys '%s'...", it.path, strings.Join(it.keys, ","))
		}
		if err := restoreFirst(c, st, it.keys); err != nil {
			status = max(status, fail("%v", err))
		}
	}
	return status
}

// restoreFirst restores the first of keys that is in the cache: an exact
// match, else the newest stored key that the key, read as a regular
// expression, matches.
func restoreFirst(c *call, st *cacheStore, keys []string) error {
	for _, raw := range keys {
		key := normalizeKey(raw)
		if key == "" {
			continue
		}
		found := ""
		if ok, err := st.has(key); err != nil {
			return err
		} else if ok {
			found = key
		} else {
			entries, err := st.list(sortStoreTime)
			if err != nil {
				return err
			}
			if re, err := regexp.Compile(key); err == nil {
				for _, e := range entries {
					if re.MatchString(e.name) {
						found = e.name
						break
					}
				}
			}
		}
		if found == "" {
			c.infof("MISS: '%s'.", key)
			continue
		}
		c.infof("HIT: '%s', using key '%s'.", key, found)
		start := time.Now()
		restored, err := st.restore(c.ctx, found, c.dir)
		if err != nil {
			return fmt.Errorf("restore %s: %w", found, err)
		}
		c.infof("Restored: %s (%s).", restored, time.Since(start).Round(time.Millisecond))
		return nil
	}
	return nil
}

func cacheList(c *call, st *cacheStore, pos []string, fl flags, fail func(string, ...any) int) int {
	if len(pos) > 0 {
		return fail("list takes no arguments")
	}
	order := fl["sort-by"]
	if order == "" {
		order = sortStoreTime
	}
	if !validSort(order) {
		return fail("--sort-by %s: want STORE_TIME, ACCESS_TIME or SIZE", order)
	}
	entries, err := st.list(order)
	if err != nil {
		return fail("%v", err)
	}
	if len(entries) == 0 {
		fmt.Fprintln(c.stdout, "Cache is empty.")
		return 0
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSIZE\tSTORED AT\tACCESSED AT")
	for _, e := range entries {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", e.name, humanSize(e.size), e.stored.Format(time.RFC822), e.accessed.Format(time.RFC822))
	}
	w.Flush()
	return 0
}

// checksum prints the MD5 of a file's content, as Semaphore's checksum.
func runChecksum(c *call, args []string) int { return checksum(c, args) }

func checksum(c *call, args []string) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return c.usageError("checksum FILE", "checksum needs exactly one file")
	}
	sum, err := fileMD5(c.abs(args[0]))
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	fmt.Fprintln(c.stdout, sum)
	return 0
}

func fileMD5(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// normalizeKey makes a key a file name, as cache-cli does.
func normalizeKey(k string) string { return strings.ReplaceAll(k, "/", "-") }

// Orders of cache keys, by cache-cli's names.
const (
	sortStoreTime  = jobsvc.SortStoreTime  // newest stored first
	sortAccessTime = jobsvc.SortAccessTime // most recently restored first
	sortSize       = jobsvc.SortSize       // largest first
)

func validSort(s string) bool {
	return s == sortStoreTime || s == sortAccessTime || s == sortSize
}

// cacheStore is the project's cache, as the job service serves it.
type cacheStore struct {
	ctx     context.Context
	svc     *jobsvc.Client
	maxSize int64
}

type cacheEntry struct {
	name             string
	size             int64
	stored, accessed time.Time
}

func openCacheStore(c *call) (*cacheStore, error) {
	svc, err := jobsvc.NewClient(c.getenv)
	if err != nil {
		return nil, err
	}
	st := &cacheStore{ctx: c.ctx, svc: svc, maxSize: defaultCacheSize}
	if sizeKiB := c.getenv("CACHE_SIZE"); sizeKiB != "" {
		n, err := strconv.ParseInt(sizeKiB, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("CACHE_SIZE=%s: want a size in KiB", sizeKiB)
		}
		st.maxSize = n << 10
	}
	return st, nil
}

func (st *cacheStore) has(key string) (bool, error) { return st.svc.CacheHas(st.ctx, key) }

// list lists the keys in order (sortStoreTime...).
func (st *cacheStore) list(order string) ([]cacheEntry, error) {
	es, err := st.svc.CacheList(st.ctx, order)
	if err != nil {
		return nil, err
	}
	entries := make([]cacheEntry, len(es))
	for i, e := range es {
		entries[i] = cacheEntry{name: e.Key, size: e.Size, stored: e.Stored, accessed: e.Accessed}
	}
	return entries, nil
}

func (st *cacheStore) delete(key string) (bool, error) { return st.svc.CacheDelete(st.ctx, key) }

func (st *cacheStore) clear() error { return st.svc.CacheClear(st.ctx) }

// store archives path (relative to cwd, or absolute) under key, unless the
// key exists, streaming the archive to the service. It returns the
// archive's size and whether it stored it.
func (st *cacheStore) store(ctx context.Context, key, path, cwd, order string) (int64, bool, error) {
	res, err := st.svc.CacheStore(ctx, key, st.maxSize, order, func(w io.Writer) error {
		return writeArchive(ctx, w, path, cwd)
	})
	return res.Size, res.Stored, err
}

// restore extracts the archive of key relative to cwd and returns the path
// it restored.
func (st *cacheStore) restore(ctx context.Context, key, cwd string) (string, error) {
	rc, err := st.svc.CacheRestore(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	return readArchive(ctx, rc, cwd)
}

// lockFile is a dependency lock file that cache store and restore without
// arguments look for, and the directories they then cache.
type lockFile struct {
	file    string
	entries []lockEntry
}

type lockEntry struct {
	keys []string // store uses the first
	path string
}

// detectLockFiles finds the lock files in the working directory, as
// cache-cli does. Keys are PREFIX-BRANCH-MD5(lock file); restore falls
// back to PREFIX-BRANCH (any checksum), then PREFIX-master and
// PREFIX-main.
func detectLockFiles(c *call, restore bool) []lockFile {
	home := c.getenv("HOME")
	known := []struct {
		file string
		dirs [][2]string // key prefix, path
	}{
		{".nvmrc", [][2]string{{"nvm", filepath.Join(home, ".nvm")}}},
		{"Gemfile.lock", [][2]string{{"gems", "vendor/bundle"}}},
		{"package-lock.json", [][2]string{{"node-modules", "node_modules"}}},
		{"yarn.lock", [][2]string{{"yarn-cache", filepath.Join(home, ".cache/yarn")}, {"node-modules", "node_modules"}}},
		{"mix.lock", [][2]string{{"mix-deps", "deps"}, {"mix-build", "_build"}}},
		{"requirements.txt", [][2]string{{"requirements", ".pip_cache"}}},
		{"composer.lock", [][2]string{{"composer", "vendor"}}},
		{"pom.xml", [][2]string{{"maven", ".m2"}, {"maven-target", "target"}}},
		{"Podfile.lock", [][2]string{{"pods", "Pods"}}},
		{"go.sum", [][2]string{{"go", filepath.Join(home, "go/pkg/mod")}}},
	}
	branch := c.getenv("SEMAPHORE_GIT_PR_BRANCH")
	if branch == "" {
		branch = c.getenv("SEMAPHORE_GIT_BRANCH")
	}
	if branch == "" {
		branch = "master"
	}
	var found []lockFile
	for _, k := range known {
		sum, err := fileMD5(c.abs(k.file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			c.errorf("checksum %s: %v", k.file, err)
			continue
		}
		lf := lockFile{file: k.file}
		for _, d := range k.dirs {
			keys := []string{normalizeKey(d[0] + "-" + branch + "-" + sum)}
			if restore {
				keys = append(keys, normalizeKey(d[0]+"-"+branch))
				for _, trunk := range []string{"master", "main"} {
					if trunk != branch {
						keys = append(keys, d[0]+"-"+trunk)
					}
				}
			}
			lf.entries = append(lf.entries, lockEntry{keys: keys, path: d[1]})
		}
		found = append(found, lf)
	}
	return found
}

// humanSize formats a byte count like 1.5 MB.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
