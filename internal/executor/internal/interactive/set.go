package interactive

import (
	"context"
	"strings"
	"sync"

	"github.com/batonci/baton/internal/executor"
)

// Set is a session's running interactive processes: each is ended with
// its context or when the session ends (CloseAll), whichever comes first.
type Set struct {
	mu     sync.Mutex
	closed bool
	set    map[*tracked]struct{}
}

// Closed reports whether CloseAll ran: the session takes no new shells.
func (s *Set) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Track adds p to the set, ends it with ctx, and runs cleanup once when it
// ends. A process tracked after CloseAll is closed at once.
func (s *Set) Track(ctx context.Context, p executor.Process, cleanup func()) executor.Process {
	t := &tracked{Process: p}
	s.mu.Lock()
	if s.set == nil {
		s.set = map[*tracked]struct{}{}
	}
	s.set[t] = struct{}{}
	closed := s.closed
	s.mu.Unlock()
	stopped := make(chan func() bool, 1)
	t.done = func() {
		(<-stopped)()
		cleanup()
		s.mu.Lock()
		delete(s.set, t)
		s.mu.Unlock()
	}
	stopped <- context.AfterFunc(ctx, func() { t.Close() })
	if closed {
		t.Close()
	}
	return t
}

// CloseAll ends every tracked process; later ones are closed as tracked.
func (s *Set) CloseAll() {
	s.mu.Lock()
	s.closed = true
	ps := make([]*tracked, 0, len(s.set))
	for t := range s.set {
		ps = append(ps, t)
	}
	s.mu.Unlock()
	for _, t := range ps {
		t.Close()
	}
}

// tracked is a process of a Set.
type tracked struct {
	executor.Process
	once sync.Once
	done func()
}

func (t *tracked) Wait() (int, error) {
	code, err := t.Process.Wait()
	t.once.Do(t.done)
	return code, err
}

func (t *tracked) Close() error {
	err := t.Process.Close()
	t.once.Do(t.done)
	return err
}

// BashArgs are bash's arguments for an interactive process whose rc file
// is rc: an interactive shell that reads it, or cfg.Command run after it.
func BashArgs(rc string, cfg executor.ShellConfig) []string {
	if cfg.Command == "" {
		return []string{"--noprofile", "--rcfile", rc, "-i"}
	}
	return []string{"--noprofile", "--norc", "-c", ". '" + strings.ReplaceAll(rc, "'", `'\''`) + "'\n" + cfg.Command}
}
