package api

import (
	"errors"
	"fmt"
	"sync"
)

// MaxLiveStreams is how many live log streams one client address may
// hold open at once.
const MaxLiveStreams = 20

// errTooManyStreams refuses a live log stream past MaxLiveStreams (429).
var errTooManyStreams = errors.New("too many requests")

// streamLimit counts the live log streams of each client address.
type streamLimit struct {
	mu   sync.Mutex
	max  int
	open map[string]int
}

// acquire takes a stream for addr, or fails when addr holds max already;
// release gives it back.
func (l *streamLimit) acquire(addr string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[addr] >= l.max {
		return nil, fmt.Errorf("%w: at most %d live log streams per client address at once: close some pages that follow a log", errTooManyStreams, l.max)
	}
	l.open[addr]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.open[addr]--; l.open[addr] <= 0 {
				delete(l.open, addr)
			}
		})
	}, nil
}
