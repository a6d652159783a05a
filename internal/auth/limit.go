package auth

import (
	"math"
	"sync"
	"time"
)

// LimiterConfig tunes a Limiter; zero fields take the defaults.
type LimiterConfig struct {
	// Free is how many failures a key may have before it must wait
	// (default 5).
	Free int
	// Base is the first wait after the free failures; each further
	// failure doubles it (default 1 s), up to Max (default 15 min).
	Base, Max time.Duration
	// Forget is how long after its last failure a key starts afresh
	// (default 1 h).
	Forget time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Limiter slows down guessing: it counts failures per key (a login, a
// client address) and, past a few, makes the key wait exponentially longer
// between attempts. It is safe for concurrent use. Its state is in memory:
// each server process limits on its own.
type Limiter struct {
	cfg LimiterConfig
	mu  sync.Mutex
	m   map[string]*attempts
}

type attempts struct {
	failures int
	last     time.Time
}

// maxKeys bounds the memory a flood of distinct keys can take: past it,
// forgotten keys are swept on the next failure.
const maxKeys = 100_000

// NewLimiter returns a limiter.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.Free <= 0 {
		cfg.Free = 5
	}
	if cfg.Base <= 0 {
		cfg.Base = time.Second
	}
	if cfg.Max <= 0 {
		cfg.Max = 15 * time.Minute
	}
	if cfg.Forget <= 0 {
		cfg.Forget = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{cfg: cfg, m: map[string]*attempts{}}
}

// wait is how long after its last failure a key with n failures waits.
func (l *Limiter) wait(n int) time.Duration {
	if n < l.cfg.Free {
		return 0
	}
	exp := n - l.cfg.Free
	if exp > 30 {
		return l.cfg.Max
	}
	d := time.Duration(float64(l.cfg.Base) * math.Pow(2, float64(exp)))
	return min(d, l.cfg.Max)
}

// Allow reports how long the caller must still wait before an attempt for
// any of keys; 0 means it may try now.
func (l *Limiter) Allow(keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.longestWait(l.cfg.Now(), keys)
}

// longestWait is how long the longest waiting of keys must still wait at
// now. The caller holds l.mu.
func (l *Limiter) longestWait(now time.Time, keys []string) time.Duration {
	var longest time.Duration
	for _, k := range keys {
		a := l.m[k]
		if a == nil || now.Sub(a.last) >= l.cfg.Forget {
			continue
		}
		if left := a.last.Add(l.wait(a.failures)).Sub(now); left > longest {
			longest = left
		}
	}
	return longest
}

// Reservation is an attempt Reserve let through, counted as failed until
// the caller says otherwise.
type Reservation struct {
	l    *Limiter
	keys []string
	once sync.Once
}

// Reserve decides and records in one step: when no key must wait, the
// attempt is counted as a failure for every key at once and a Reservation
// is returned (Cancel takes it back when the attempt succeeds); otherwise
// nil and how long the caller must still wait. So parallel attempts
// cannot all pass a check made before any of them failed: of any number
// at once, at most the free failures get through.
func (l *Limiter) Reserve(keys ...string) (*Reservation, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	longest := l.longestWait(now, keys)
	if longest > 0 {
		return nil, longest
	}
	l.failLocked(now, keys)
	return &Reservation{l: l, keys: keys}, 0
}

// Cancel takes back the failure Reserve counted: the attempt succeeded
// (or was never made). Calling it again does nothing.
func (r *Reservation) Cancel() {
	r.once.Do(func() {
		r.l.mu.Lock()
		defer r.l.mu.Unlock()
		for _, k := range r.keys {
			if a := r.l.m[k]; a != nil && a.failures > 0 {
				a.failures--
			}
		}
	})
}

// Fail records a failed attempt for each key.
func (l *Limiter) Fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failLocked(l.cfg.Now(), keys)
}

func (l *Limiter) failLocked(now time.Time, keys []string) {
	if len(l.m) > maxKeys {
		for k, a := range l.m {
			if now.Sub(a.last) >= l.cfg.Forget {
				delete(l.m, k)
			}
		}
	}
	for _, k := range keys {
		a := l.m[k]
		if a == nil || now.Sub(a.last) >= l.cfg.Forget {
			a = &attempts{}
			l.m[k] = a
		}
		a.failures++
		a.last = now
	}
}

// Succeed forgets the failures of keys.
func (l *Limiter) Succeed(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		delete(l.m, k)
	}
}
