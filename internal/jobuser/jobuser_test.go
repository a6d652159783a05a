package jobuser_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/jobuser"
	"github.com/batonci/baton/internal/testenv/probe"
)

// testPool opens a pool of generated users with names of this test's
// own, removed at the end.
func testPool(t *testing.T, opts jobuser.Options) *jobuser.Pool {
	t.Helper()
	probe.Require(t, probe.Root)
	prefix := "bt" + strconv.Itoa(os.Getpid()%100000) + strings.ToLower(t.Name()[4:8]) + "-"
	if opts.Name == "" {
		opts.Prefix = prefix
	}
	opts.Group = "baton-jobtest"
	opts.LockDir = t.TempDir()
	opts.HomeDir = t.TempDir()
	t.Cleanup(func() {
		for i := 1; i <= 8; i++ {
			name := prefix + strconv.Itoa(i)
			jobuser.KillAll(uidOf(name))
			exec.Command("userdel", name).Run()
		}
	})
	p, err := jobuser.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func uidOf(name string) int {
	u, err := jobuser.Lookup(name)
	if err != nil {
		return -1
	}
	return u.UID
}

func TestLookupRefusesRoot(t *testing.T) {
	_, err := jobuser.Lookup("root")
	if err == nil || !strings.Contains(err.Error(), "uid 0") {
		t.Fatalf("Lookup(root) = %v, want a refusal naming uid 0", err)
	}
	probe.Require(t, probe.Root)
	_, err = jobuser.Open(jobuser.Options{Name: "root", LockDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "must not run as root") {
		t.Fatalf("Open(--job-user root) = %v, want a refusal", err)
	}
}

func TestOpenCreatesAUserPerSlot(t *testing.T) {
	p := testPool(t, jobuser.Options{Slots: 2})
	users := p.Users()
	if len(users) != 2 {
		t.Fatalf("users = %+v, want 2", users)
	}
	for _, u := range users {
		if u.UID == 0 || u.GID == 0 {
			t.Errorf("user %+v is privileged", u)
		}
		if fi, err := os.Stat(u.Home); err != nil || !fi.IsDir() || fi.Sys().(*syscall.Stat_t).Uid != uint32(u.UID) {
			t.Errorf("home of %s: %v", u.Name, err)
		}
	}
	if users[0].UID == users[1].UID {
		t.Errorf("slots share uid %d", users[0].UID)
	}
}

func TestLeasesAreExclusive(t *testing.T) {
	p := testPool(t, jobuser.Options{Slots: 2})
	a, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Lease() // more jobs than slots: one more user
	if err != nil {
		t.Fatal(err)
	}
	if a.UID == b.UID || b.UID == c.UID || a.UID == c.UID {
		t.Fatalf("leases share a user: %s %s %s", a.Name, b.Name, c.Name)
	}
	b.Release()
	d, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	if d.UID != b.UID {
		t.Errorf("lease after release = %s, want the free %s", d.Name, b.Name)
	}
	a.Release()
	c.Release()
	d.Release()
	d.Release() // twice is fine
}

// startAs starts a long-lived process as u, the way a job's leftover
// daemon would be.
func startAs(t *testing.T, u jobuser.User) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{}}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && len(b) > i+2 && b[i+2] != 'Z'
}

func waitDead(t *testing.T, pid int) {
	t.Helper()
	probe.Eventually(t, 3*time.Second, func() error {
		if alive(pid) {
			return fmt.Errorf("process %d still runs", pid)
		}
		return nil
	})
}

func TestLeaseKillsLeftovers(t *testing.T) {
	p := testPool(t, jobuser.Options{Slots: 1})
	u := p.Users()[0]
	leftover := startAs(t, u)
	mine := startAs(t, jobuser.User{UID: 65534, GID: 65534}) // someone else's
	l, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if l.UID != u.UID {
		t.Fatalf("leased %s, want %s", l.Name, u.Name)
	}
	waitDead(t, leftover.Process.Pid)
	if !alive(mine.Process.Pid) {
		t.Error("the lease killed another user's process")
	}
}

func TestNamedUserIsSharedAndKilledOnlyWhenFree(t *testing.T) {
	gen := testPool(t, jobuser.Options{Slots: 1})
	name := gen.Users()[0].Name
	p, err := jobuser.Open(jobuser.Options{Name: name, Slots: 2, LockDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	running := startAs(t, a.User) // the first job's process
	b, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	if b.UID != a.UID {
		t.Fatalf("named leases = %s and %s", a.Name, b.Name)
	}
	time.Sleep(50 * time.Millisecond)
	if !alive(running.Process.Pid) {
		t.Fatal("a second lease of a shared user killed the first job's process")
	}
	a.Release()
	b.Release()
	c, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	waitDead(t, running.Process.Pid)
}

func TestKillAllRefusesRoot(t *testing.T) {
	if err := jobuser.KillAll(0); err == nil {
		t.Fatal("KillAll(0) did not refuse")
	}
}

func TestReleaseKillsTheJobsLeftovers(t *testing.T) {
	p := testPool(t, jobuser.Options{Slots: 1})
	l, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	daemon := startAs(t, l.User)
	l.Release()
	waitDead(t, daemon.Process.Pid)
	var none *jobuser.Lease
	none.Release()
}

// TestLeaseAfterACrashKillsLeftovers: a job whose agent died (its lease
// dropped, never released) leaves processes behind and no clean mark;
// the next lease of the user kills them, even after clean releases
// before.
func TestLeaseAfterACrashKillsLeftovers(t *testing.T) {
	p := testPool(t, jobuser.Options{Slots: 1})
	first, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	first.Release() // clean
	l, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	leftover := startAs(t, l.User)
	jobuser.Crash(l)
	next, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	defer next.Release()
	waitDead(t, leftover.Process.Pid)
}

// TestLeaseAfterACleanReleaseSkipsTheScan: after a release, which killed
// the user's processes, the next lease does not look for any (the scan
// of every process is not on the way to the job's first command). Only
// root can start a process as the user in between, as this test does to
// see that no scan ran; the release after it kills that one too. (A
// lease takes the mark: TestLeaseAfterACrashKillsLeftovers.)
func TestLeaseAfterACleanReleaseSkipsTheScan(t *testing.T) {
	p := testPool(t, jobuser.Options{Slots: 1})
	l, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	byRoot := startAs(t, l.User)
	next, err := p.Lease()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if !alive(byRoot.Process.Pid) {
		t.Fatal("the lease after a clean release scanned and killed")
	}
	next.Release()
	waitDead(t, byRoot.Process.Pid)
}
