package workspace

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// ficlone is the Linux FICLONE ioctl request: _IOW(0x94, 9, int). It makes
// the destination file share the source's blocks (copy-on-write) on file
// systems that support it (Btrfs, XFS, bcachefs, OCFS2); elsewhere it fails
// and copyTree copies the bytes.
const ficlone = 0x40049409

// atSymlinkNofollow is AT_SYMLINK_NOFOLLOW for utimensat.
const atSymlinkNofollow = 0x100

// copyTree copies the directory tree src to dst, which must not exist:
// directories (empty ones too), regular files with their permission bits
// and modification times, and symlinks with theirs. File contents are
// reflinked where the file system can, else copied by the kernel. Paths
// for which skip (given the slash-separated path relative to src) returns
// true are left out. It returns the stat data of every copied file and
// symlink, keyed by slash-separated relative path.
//
// Several goroutines copy at once, each taking a whole directory (or a
// slice of a big one) at a time: creating files in one directory from
// several threads only makes them wait for its lock.
func copyTree(ctx context.Context, src, dst string, skip func(rel string) bool) (map[string]statData, error) {
	c := &copier{umask: processUmask(), skip: skip}
	c.cond = sync.NewCond(&c.mu)
	c.reflink.Store(true)
	fi, err := os.Lstat(src)
	if err != nil {
		return nil, err
	}
	if err := c.mkdir(dst, fi.Mode().Perm()); err != nil {
		return nil, err
	}
	c.queue = []copyUnit{{src: src, dst: dst}}
	c.pending = 1
	stop := context.AfterFunc(ctx, func() { c.done(nil, context.Cause(ctx)) })
	defer stop()

	workers := min(8, 2*runtime.GOMAXPROCS(0))
	results := make([][]statEntry, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for {
				u, ok := c.next()
				if !ok {
					return
				}
				more, err := c.process(u, &results[i])
				c.done(more, err)
			}
		})
	}
	wg.Wait()
	c.mu.Lock()
	err = c.err
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	// Directories without owner access get their mode once filled,
	// innermost first.
	slices.SortFunc(c.lateModes, func(a, b dirMode) int { return len(b.dir) - len(a.dir) })
	for _, d := range c.lateModes {
		if err := os.Chmod(d.dir, d.perm); err != nil {
			return nil, err
		}
	}
	n := 0
	for _, r := range results {
		n += len(r)
	}
	stats := make(map[string]statData, n)
	for _, r := range results {
		for _, e := range r {
			stats[e.rel] = e.st
		}
	}
	return stats, nil
}

// copyUnit is a piece of work: read a directory (whose copy exists) and
// copy what is in it, or, if files is not nil, copy those regular files of
// it.
type copyUnit struct {
	rel, src, dst string
	files         []string
}

// chunk is how many files of one directory a goroutine copies at a time.
const chunk = 128

type statEntry struct {
	rel string
	st  statData
}

type copier struct {
	umask   fs.FileMode
	skip    func(rel string) bool
	reflink atomic.Bool // whether FICLONE is still worth trying
	failed  atomic.Bool // set with err

	mu        sync.Mutex
	cond      *sync.Cond
	queue     []copyUnit // guarded by mu
	pending   int        // units queued or being processed; guarded by mu
	err       error      // the first failure; guarded by mu
	lateModes []dirMode  // guarded by mu
}

type dirMode struct {
	dir  string
	perm fs.FileMode
}

// next returns the next unit of work, waiting for one while others are
// being processed; false means the copy is over (or failed).
func (c *copier) next() (copyUnit, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.queue) == 0 && c.pending > 0 && c.err == nil {
		c.cond.Wait()
	}
	if c.err != nil || len(c.queue) == 0 {
		return copyUnit{}, false
	}
	u := c.queue[len(c.queue)-1] // depth first: goroutines spread over directories
	c.queue = c.queue[:len(c.queue)-1]
	return u, true
}

// done records the end of a unit (or a failure, with more nil and a
// pending count unchanged when it comes from outside a unit).
func (c *copier) done(more []copyUnit, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.err == nil {
			c.err = err
			c.failed.Store(true)
		}
	} else {
		c.queue = append(c.queue, more...)
		c.pending += len(more) - 1
	}
	c.cond.Broadcast()
}

// process does one unit and returns the units it found: the directory's
// subdirectories (created already) and slices of its files.
func (c *copier) process(u copyUnit, out *[]statEntry) ([]copyUnit, error) {
	if u.files != nil {
		return nil, c.copyFiles(u, u.files, out)
	}
	entries, err := os.ReadDir(u.src)
	if err != nil {
		return nil, err
	}
	var more []copyUnit
	var files []string
	for _, e := range entries {
		erel := path.Join(u.rel, e.Name())
		if c.skip != nil && c.skip(erel) {
			continue
		}
		s, d := filepath.Join(u.src, e.Name()), filepath.Join(u.dst, e.Name())
		switch t := e.Type(); {
		case t.IsDir():
			fi, err := e.Info()
			if err != nil {
				return nil, err
			}
			if err := c.mkdir(d, fi.Mode().Perm()); err != nil {
				return nil, err
			}
			more = append(more, copyUnit{rel: erel, src: s, dst: d})
		case t.IsRegular():
			files = append(files, e.Name())
		case t&fs.ModeSymlink != 0:
			st, err := copySymlink(s, d)
			if err != nil {
				return nil, err
			}
			*out = append(*out, statEntry{erel, st})
		default:
			return nil, fmt.Errorf("copy %s: unsupported file type %v", s, t)
		}
	}
	// Big directories are shared out in slices; the last slice is done here.
	for len(files) > chunk {
		more = append(more, copyUnit{rel: u.rel, src: u.src, dst: u.dst, files: files[:chunk]})
		files = files[chunk:]
	}
	return more, c.copyFiles(u, files, out)
}

func (c *copier) copyFiles(u copyUnit, names []string, out *[]statEntry) error {
	for _, name := range names {
		if c.failed.Load() {
			return nil // the error is recorded
		}
		st, err := c.copyFile(filepath.Join(u.src, name), filepath.Join(u.dst, name))
		if err != nil {
			return err
		}
		*out = append(*out, statEntry{path.Join(u.rel, name), st})
	}
	return nil
}

func (c *copier) mkdir(dir string, perm fs.FileMode) error {
	if err := os.Mkdir(dir, perm|0o700); err != nil {
		return err
	}
	if perm|0o700 != perm {
		c.mu.Lock()
		c.lateModes = append(c.lateModes, dirMode{dir, perm})
		c.mu.Unlock()
		return nil
	}
	if perm&c.umask != 0 {
		return os.Chmod(dir, perm)
	}
	return nil
}

// copyFile copies the regular file src to the new file dst and returns
// the stat data of dst. It uses raw system calls: os.File's registration
// with the runtime poller costs more than the copy for small files.
func (c *copier) copyFile(src, dst string) (statData, error) {
	in, err := openRetry(src, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return statData{}, &fs.PathError{Op: "open", Path: src, Err: err}
	}
	defer syscall.Close(in)
	var sst syscall.Stat_t
	if err := syscall.Fstat(in, &sst); err != nil {
		return statData{}, &fs.PathError{Op: "stat", Path: src, Err: err}
	}
	perm := uint32(sst.Mode) & uint32(fs.ModePerm)
	out, err := openRetry(dst, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, perm)
	if err != nil {
		return statData{}, &fs.PathError{Op: "create", Path: dst, Err: err}
	}
	st, err := c.fillFile(out, in, dst, perm, &sst)
	if cerr := syscall.Close(out); err == nil && cerr != nil {
		err = &fs.PathError{Op: "close", Path: dst, Err: cerr}
	}
	return st, err
}

// fillFile gives the new file out (named dst) the content, mode and times
// of in (whose stat data is sst) and returns its stat data.
func (c *copier) fillFile(out, in int, dst string, perm uint32, sst *syscall.Stat_t) (statData, error) {
	if fs.FileMode(perm)&c.umask != 0 {
		if err := syscall.Fchmod(out, perm); err != nil {
			return statData{}, &fs.PathError{Op: "chmod", Path: dst, Err: err}
		}
	}
	if sst.Size > 0 {
		if err := c.copyData(out, in, sst.Size); err != nil {
			return statData{}, &fs.PathError{Op: "copy", Path: dst, Err: err}
		}
	}
	times := [2]syscall.Timespec{sst.Atim, sst.Mtim}
	if err := futimens(out, &times); err != nil {
		return statData{}, &fs.PathError{Op: "set times", Path: dst, Err: err}
	}
	var dstat syscall.Stat_t
	if err := syscall.Fstat(out, &dstat); err != nil {
		return statData{}, &fs.PathError{Op: "stat", Path: dst, Err: err}
	}
	return statDataOf(&dstat), nil
}

func openRetry(name string, flags int, perm uint32) (int, error) {
	for {
		fd, err := syscall.Open(name, flags, perm)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// copyData copies size bytes from the start of in to out: a reflink if the
// file system can, else an in-kernel copy.
func (c *copier) copyData(out, in int, size int64) error {
	if c.reflink.Load() {
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(out), ficlone, uintptr(in))
		if errno == 0 {
			return nil
		}
		// Not supported here (EOPNOTSUPP, EXDEV across file systems,
		// EINVAL, ENOTTY...): stop trying for this tree.
		c.reflink.Store(false)
	}
	var off int64
	for off < size {
		n, err := syscall.Sendfile(out, in, &off, int(min(size-off, 1<<30)))
		switch {
		case err == syscall.EINTR || err == syscall.EAGAIN:
			continue
		case err != nil:
			return err
		case n == 0: // the file shrank
			return nil
		}
	}
	return nil
}

func copySymlink(src, dst string) (statData, error) {
	target, err := os.Readlink(src)
	if err != nil {
		return statData{}, err
	}
	var sst syscall.Stat_t
	if err := syscall.Lstat(src, &sst); err != nil {
		return statData{}, fmt.Errorf("stat %s: %w", src, err)
	}
	if err := os.Symlink(target, dst); err != nil {
		return statData{}, err
	}
	times := [2]syscall.Timespec{sst.Atim, sst.Mtim}
	if err := lutimens(dst, &times); err != nil {
		return statData{}, fmt.Errorf("set times of %s: %w", dst, err)
	}
	var dst2 syscall.Stat_t
	if err := syscall.Lstat(dst, &dst2); err != nil {
		return statData{}, fmt.Errorf("stat %s: %w", dst, err)
	}
	return statDataOf(&dst2), nil
}

// futimens sets the access and modification times of an open file.
func futimens(fd int, ts *[2]syscall.Timespec) error {
	// utimensat(fd, NULL, ts, 0) is futimens(fd, ts).
	_, _, errno := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// lutimens sets the times of a symlink itself.
func lutimens(name string, ts *[2]syscall.Timespec) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	atFDCWD := -100
	_, _, errno := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(ts)), atSymlinkNofollow, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// processUmask reads the process's file mode creation mask from
// /proc/self/status without changing it (syscall.Umask would, racily). If
// it cannot be read it returns 0o777, so that every mode is set
// explicitly.
func processUmask() fs.FileMode {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0o777
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				break
			}
			return fs.FileMode(m)
		}
	}
	return 0o777
}

// RemoveAll removes dir and everything in it, including read-only
// directories (which jobs create, for example Go's module cache).
func RemoveAll(dir string) error { return removeAll(dir) }

func removeAll(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	// WalkDir calls fn for a directory before reading it, so each is made
	// readable and writable before its entries are visited.
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
