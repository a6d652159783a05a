package repocache

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/gitrepo"
)

// Reading objects (is this commit here? what does it say? what is in this
// file?) is on the path from a push to its first job. Starting a git
// process per question costs milliseconds each, so every mirror gets one
// `git cat-file --batch` process that answers them in microseconds. It
// exits after a while without questions.

// batchIdle is how long an object reader lives without questions.
const batchIdle = 30 * time.Second

// errMissing is the object reader's answer for a name that names nothing.
var errMissing = errors.New("missing")

// objectReader is one `git cat-file --batch` of a mirror.
type objectReader struct {
	mu    sync.Mutex
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	timer *time.Timer
	dead  bool
}

// readers holds the object readers by mirror directory.
type readers struct {
	mu sync.Mutex
	by map[string]*objectReader
}

// object returns the id, type and content of the object name (any
// revision expression git understands, such as "sha^{commit}" or
// "sha:path") in mirror m, or errMissing.
func (c *Cache) object(m, name string) (id, typ string, data []byte, err error) {
	if strings.ContainsAny(name, "\n\x00") {
		return "", "", nil, errMissing
	}
	for attempt := 0; ; attempt++ {
		r, err := c.objectReader(m)
		if err != nil {
			return "", "", nil, err
		}
		id, typ, data, err := r.get(name)
		if err == nil || errors.Is(err, errMissing) || attempt == 1 {
			return id, typ, data, err
		}
		// The reader died (idle exit racing with us, or killed): once more
		// with a new one.
	}
}

func (c *Cache) objectReader(m string) (*objectReader, error) {
	c.objects.mu.Lock()
	defer c.objects.mu.Unlock()
	if c.objects.by == nil {
		c.objects.by = map[string]*objectReader{}
	}
	if r := c.objects.by[m]; r != nil && !r.isDead() {
		return r, nil
	}
	cmd := gitrepo.Command(context.Background(), m, nil, "cat-file", "--batch")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start git cat-file: %w", err)
	}
	r := &objectReader{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 64<<10)}
	r.timer = time.AfterFunc(batchIdle, r.close)
	c.objects.by[m] = r
	return r, nil
}

func (r *objectReader) isDead() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dead
}

// close ends the process (idle, or after an error).
func (r *objectReader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeLocked()
}

func (r *objectReader) closeLocked() {
	if r.dead {
		return
	}
	r.dead = true
	r.in.Close()
	go r.cmd.Wait() // reap it; it exits on end of input
}

// get asks for one object.
func (r *objectReader) get(name string) (id, typ string, data []byte, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return "", "", nil, errors.New("object reader closed")
	}
	r.timer.Reset(batchIdle)
	fail := func(err error) (string, string, []byte, error) {
		r.closeLocked()
		return "", "", nil, fmt.Errorf("git cat-file: %w", err)
	}
	if _, err := io.WriteString(r.in, name+"\n"); err != nil {
		return fail(err)
	}
	header, err := r.out.ReadString('\n')
	if err != nil {
		return fail(err)
	}
	f := strings.Fields(header)
	if len(f) == 2 && (f[1] == "missing" || f[1] == "ambiguous") {
		return "", "", nil, errMissing
	}
	if len(f) != 3 {
		return fail(fmt.Errorf("unexpected answer %q", header))
	}
	size, err := strconv.Atoi(f[2])
	if err != nil {
		return fail(fmt.Errorf("unexpected answer %q", header))
	}
	data = make([]byte, size+1) // the content and a newline
	if _, err := io.ReadFull(r.out, data); err != nil {
		return fail(err)
	}
	return f[0], f[1], data[:size], nil
}

// parseCommitObject reads a raw commit object as `git cat-file` gives it.
func parseCommitObject(sha string, data []byte) (CommitInfo, error) {
	info := CommitInfo{SHA: sha}
	head, msg, _ := bytes.Cut(data, []byte("\n\n"))
	for _, line := range strings.Split(string(head), "\n") {
		key, value, _ := strings.Cut(line, " ")
		switch key {
		case "parent":
			info.Parents = append(info.Parents, value)
		case "author":
			info.AuthorName, info.AuthorEmail, info.AuthorTime = parseIdent(value)
		case "committer":
			info.CommitterName, info.CommitterEmail, info.CommitTime = parseIdent(value)
		}
	}
	info.Message = strings.TrimRight(string(msg), "\n")
	info.Subject, _, _ = strings.Cut(info.Message, "\n")
	if info.AuthorTime.IsZero() {
		return info, fmt.Errorf("commit %s: no author in the commit object", sha)
	}
	return info, nil
}

// parseIdent reads "Name <email> 1700000000 +0100".
func parseIdent(s string) (name, email string, at time.Time) {
	lt, gt := strings.LastIndexByte(s, '<'), strings.LastIndexByte(s, '>')
	if lt < 0 || gt < lt {
		return strings.TrimSpace(s), "", time.Time{}
	}
	name, email = strings.TrimSpace(s[:lt]), s[lt+1:gt]
	f := strings.Fields(s[gt+1:])
	if len(f) == 2 {
		secs, err1 := strconv.ParseInt(f[0], 10, 64)
		tz, err2 := time.Parse("-0700", f[1])
		if err1 == nil && err2 == nil {
			at = time.Unix(secs, 0).In(tz.Location())
		}
	}
	return name, email, at
}

// treeEntry finds name in a raw tree object: its mode and object id.
func treeEntry(tree []byte, name string, hashLen int) (mode, id string, ok bool) {
	for len(tree) > 0 {
		sp := bytes.IndexByte(tree, ' ')
		nul := bytes.IndexByte(tree, 0)
		if sp < 0 || nul < sp || nul+1+hashLen > len(tree) {
			return "", "", false
		}
		if string(tree[sp+1:nul]) == name {
			return string(tree[:sp]), fmt.Sprintf("%x", tree[nul+1:nul+1+hashLen]), true
		}
		tree = tree[nul+1+hashLen:]
	}
	return "", "", false
}
