// Package jobuser gives each running job an unprivileged Unix user when
// Baton runs as root, so that a job cannot read the data directory, signal
// the server or the agent, or read their /proc entries.
//
// A Pool holds the users one agent runs its jobs as: by default one
// generated user per job slot (baton-job-1..N, created with useradd on
// first use, each with its own home, all in the group baton-job), or one
// user named by the operator (--job-user), shared by every slot. Root
// (uid 0) is never a job user.
//
// A job leases a user for as long as it runs. Leases are flock(2)ed files
// under LockDir (/run/baton/job-users), so that several agents on one
// machine never run two jobs as the same generated user at once. A lease's
// Release kills every process still owned by the user (a daemon its job
// started) and marks the lock file clean; whoever takes a user's lock
// exclusively next kills every process of the user first, unless the mark
// says there is none (a job of an agent that died leaves no mark). A named
// user is shared by the slots: its lease is a shared lock, and leftovers
// are killed only when no other job holds it.
//
// When Baton does not run as root there is no pool: jobs run as Baton's own
// user, with its rights (Warning says so in one line).
package jobuser

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults of Options.
const (
	// DefaultLockDir holds the lease locks.
	DefaultLockDir = "/run/baton/job-users"
	// DefaultHomeDir is where generated users' homes are created.
	DefaultHomeDir = "/var/lib/baton/job-users"
	// Prefix names generated users: Prefix + "1", Prefix + "2"...
	Prefix = "baton-job-"
	// Group is the primary group of generated users.
	Group = "baton-job"
	// maxGenerated bounds the generated users one machine may need (the
	// slots of every agent on it).
	maxGenerated = 256
)

// Warning is the line `baton up` and `baton agent` print at start when
// they do not run as root.
const Warning = "jobs run as this user (not root: no separate job user) and share its rights: a job can read and change everything this user can, the data directory included; run as root for isolated jobs"

// User is a Unix user jobs run as.
type User struct {
	Name string
	UID  int
	GID  int
	// Home is the user's home directory in the password database. Jobs
	// get their own directory as HOME instead.
	Home string
}

// Options configures a Pool.
type Options struct {
	// Name is the user every job runs as (--job-user); empty means one
	// generated user per slot.
	Name string
	// Slots is how many jobs run at once: the generated users made at
	// start. Default 1.
	Slots int
	// LockDir holds the lease locks; default DefaultLockDir.
	LockDir string
	// HomeDir is where generated users' homes are made; default
	// DefaultHomeDir.
	HomeDir string
	// Prefix names generated users; default Prefix. Tests use their own.
	Prefix string
	// Group is the generated users' primary group; default Group.
	Group string
}

// Pool is the set of users an agent's jobs run as. It is safe for
// concurrent use.
type Pool struct {
	opts  Options
	mu    sync.Mutex // serialises user creation
	named *User
}

// Enabled reports whether this process can run jobs as other users: it
// runs as root.
func Enabled() bool { return os.Geteuid() == 0 }

// Open checks or creates the pool's users. Without root it fails; call
// Enabled first.
func Open(opts Options) (*Pool, error) {
	if !Enabled() {
		if opts.Name != "" {
			return nil, fmt.Errorf("job user %q: only root can run jobs as another user", opts.Name)
		}
		return nil, errors.New("job users: only root can run jobs as another user")
	}
	if opts.Slots <= 0 {
		opts.Slots = 1
	}
	if opts.LockDir == "" {
		opts.LockDir = DefaultLockDir
	}
	if opts.HomeDir == "" {
		opts.HomeDir = DefaultHomeDir
	}
	if opts.Prefix == "" {
		opts.Prefix = Prefix
	}
	if opts.Group == "" {
		opts.Group = Group
	}
	if err := os.MkdirAll(opts.LockDir, 0o700); err != nil {
		return nil, fmt.Errorf("job users: %w", err)
	}
	p := &Pool{opts: opts}
	if opts.Name != "" {
		u, err := Lookup(opts.Name)
		if err != nil {
			return nil, err
		}
		p.named = &u
		return p, nil
	}
	for i := 1; i <= opts.Slots; i++ {
		if _, err := p.generated(i); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Lookup finds an existing user by name and refuses root.
func Lookup(name string) (User, error) {
	uu, err := user.Lookup(name)
	if err != nil {
		return User{}, fmt.Errorf("job user %q: %w", name, err)
	}
	u, err := fromOS(uu)
	if err != nil {
		return User{}, fmt.Errorf("job user %q: %w", name, err)
	}
	if u.UID == 0 {
		return User{}, fmt.Errorf("job user %q has uid 0: jobs must not run as root, name an unprivileged user", name)
	}
	return u, nil
}

func fromOS(uu *user.User) (User, error) {
	uid, err := strconv.Atoi(uu.Uid)
	if err != nil {
		return User{}, fmt.Errorf("uid %q: %w", uu.Uid, err)
	}
	gid, err := strconv.Atoi(uu.Gid)
	if err != nil {
		return User{}, fmt.Errorf("gid %q: %w", uu.Gid, err)
	}
	return User{Name: uu.Username, UID: uid, GID: gid, Home: uu.HomeDir}, nil
}

// generated returns generated user i, creating it (and the group) if it
// does not exist.
func (p *Pool) generated(i int) (User, error) {
	name := p.opts.Prefix + strconv.Itoa(i)
	if uu, err := user.Lookup(name); err == nil {
		u, err := fromOS(uu)
		if err == nil && u.UID == 0 {
			err = errors.New("has uid 0")
		}
		if err != nil {
			return User{}, fmt.Errorf("job user %q: %w", name, err)
		}
		return u, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tool := range []string{"groupadd", "useradd"} {
		if _, err := exec.LookPath(tool); err != nil {
			return User{}, fmt.Errorf("create job user %s: %s is not installed: create the users %s1..N (group %s) yourself, or name an unprivileged user with --job-user", name, tool, p.opts.Prefix, p.opts.Group)
		}
	}
	if _, err := user.LookupGroup(p.opts.Group); err != nil {
		if out, err := exec.Command("groupadd", "--system", p.opts.Group).CombinedOutput(); err != nil {
			if _, lerr := user.LookupGroup(p.opts.Group); lerr != nil { // not made meanwhile
				return User{}, fmt.Errorf("create the group %s: %v: %s", p.opts.Group, err, bytes.TrimSpace(out))
			}
		}
	}
	if err := os.MkdirAll(p.opts.HomeDir, 0o755); err != nil {
		return User{}, fmt.Errorf("create job user %s: %w", name, err)
	}
	home := filepath.Join(p.opts.HomeDir, name)
	out, err := exec.Command("useradd", "--system", "--gid", p.opts.Group, "--create-home", "--home-dir", home,
		"--shell", "/bin/bash", "--comment", "Baton job", name).CombinedOutput()
	uu, lerr := user.Lookup(name)
	if lerr != nil {
		if err == nil {
			err = lerr
		}
		return User{}, fmt.Errorf("create job user %s with useradd: %v: %s", name, err, bytes.TrimSpace(out))
	}
	u, err := fromOS(uu)
	if err != nil {
		return User{}, fmt.Errorf("job user %q: %w", name, err)
	}
	os.Chmod(home, 0o700)
	return u, nil
}

// Users returns the pool's users made so far (the named user, or the
// generated users of the slots).
func (p *Pool) Users() []User {
	if p.named != nil {
		return []User{*p.named}
	}
	var us []User
	for i := 1; i <= p.opts.Slots; i++ {
		if uu, err := user.Lookup(p.opts.Prefix + strconv.Itoa(i)); err == nil {
			if u, err := fromOS(uu); err == nil {
				us = append(us, u)
			}
		}
	}
	return us
}

// GID is the group of the pool's users: the group of the named user, or
// the generated users' group.
func (p *Pool) GID() (int, error) {
	if p.named != nil {
		return p.named.GID, nil
	}
	g, err := user.LookupGroup(p.opts.Group)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}

// Lease is a user held by one job. Release it when the job's processes
// are gone.
type Lease struct {
	User
	f *os.File
}

// Release kills the processes the job left running as the user, unless
// another job holds the user too, and gives the user back. It is safe to
// call on nil and more than once.
func (l *Lease) Release() {
	if l == nil || l.f == nil {
		return
	}
	if syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		if KillAll(l.UID) == nil { // else the next lease kills them
			markClean(l.f)
		}
	}
	l.f.Close() // drops the flock
	l.f = nil
}

// Lease takes a user for a job and kills the processes left running as it,
// when no other job holds it.
func (p *Pool) Lease() (*Lease, error) {
	if p.named != nil {
		return p.lease(*p.named, true)
	}
	for i := 1; i <= maxGenerated; i++ {
		u, err := p.generated(i)
		if err != nil {
			return nil, err
		}
		l, err := p.lease(u, false)
		if err != nil {
			return nil, err
		}
		if l != nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("job users: all %d users %s1..%d are in use", maxGenerated, p.opts.Prefix, maxGenerated)
}

// lease locks u. Exclusive first: whoever gets it kills u's leftovers.
// A shared user then downgrades to a shared lock, or takes one when
// another job holds it; an unshared user that is taken returns nil.
func (p *Pool) lease(u User, shared bool) (*Lease, error) {
	path := filepath.Join(p.opts.LockDir, u.Name+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lease job user %s: %w", u.Name, err)
	}
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		if !takeClean(f) {
			if err := KillAll(u.UID); err != nil {
				f.Close()
				return nil, fmt.Errorf("lease job user %s: %w", u.Name, err)
			}
		}
		if shared {
			if err := syscall.Flock(fd, syscall.LOCK_SH); err != nil {
				f.Close()
				return nil, fmt.Errorf("lease job user %s: %w", u.Name, err)
			}
		}
		return &Lease{User: u, f: f}, nil
	} else if err != syscall.EWOULDBLOCK {
		f.Close()
		return nil, fmt.Errorf("lease job user %s: %w", u.Name, err)
	}
	if !shared {
		f.Close()
		return nil, nil
	}
	if err := syscall.Flock(fd, syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("lease job user %s: %w", u.Name, err)
	}
	return &Lease{User: u, f: f}, nil
}

// cleanMark is what a lock file holds while its user has no process:
// Release writes it, under the exclusive lock, once it has killed
// everything the user ran; the next exclusive lease reads and erases it
// before the user runs anything, and then need not scan every process
// (KillAll: a few milliseconds on a quiet machine, tens under load, on
// the path from a job's assignment to its first command).
//
// Why nothing can run as the user while the mark is there: after KillAll
// no process has the user's uid, so none can fork one; only root can
// start a process as another user, and the root processes that do so
// here are the agents, which lease the user first (erasing the mark) or,
// for a crashed agent, never wrote it (a lease erases it, Release alone
// writes it: a job whose agent dies leaves no mark, and the next lease
// scans). The lock files are root's (LockDir is 0700): jobs cannot write
// the mark. What root starts as the user on its own, by cron or at from a
// job's crontab say, can start as well during the next job, when no scan
// would see it: that is not what the lease-time scan guards against.
const cleanMark = "clean\n"

// markClean records in f, a lock file held exclusively, that its user
// has no process left. A mark half written (a crash) is not the mark.
func markClean(f *os.File) {
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(cleanMark), 0)
	}
}

// takeClean reports whether f, a lock file just locked exclusively, holds
// the clean mark, and erases it: from now on the user may run a job's
// processes. A mark that cannot be erased does not count.
func takeClean(f *os.File) bool {
	b := make([]byte, len(cleanMark)+1)
	n, _ := f.ReadAt(b, 0)
	clean := string(b[:n]) == cleanMark
	if err := f.Truncate(0); err != nil {
		return false
	}
	return clean
}

// KillAll sends SIGKILL to every process whose real or effective uid is
// uid, until none is left (a process may fork while it is killed). It
// refuses uid 0.
func KillAll(uid int) error {
	if uid == 0 {
		return errors.New("refusing to kill root's processes")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := processesOf(uid)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes of uid %d survive SIGKILL: %v", uid, pids)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processesOf lists the live (not zombie) processes run by uid.
func processesOf(uid int) ([]int, error) {
	names, err := filepath.Glob("/proc/[0-9]*/status")
	if err != nil {
		return nil, err
	}
	want := strconv.Itoa(uid)
	var pids []int
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			continue // gone meanwhile
		}
		var uids []string
		zombie := false
		for line := range strings.Lines(string(b)) {
			switch {
			case strings.HasPrefix(line, "Uid:"):
				uids = strings.Fields(line[4:])
			case strings.HasPrefix(line, "State:"):
				f := strings.Fields(line[6:])
				zombie = len(f) > 0 && (f[0] == "Z" || f[0] == "X")
			}
		}
		if zombie || len(uids) < 2 || (uids[0] != want && uids[1] != want) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(name)))
		if err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
