// Package memo keeps the result of one computation per key, for callers
// that ask at once: the first caller of a key computes it, the others
// wait for its result. A Map lives as long as its results may be reused
// (one schedule tick, for instance); it forgets nothing.
package memo

import "sync"

// Map holds one result, value and error, per key. Its zero value is ready
// to use, by many goroutines at once.
type Map[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*entry[V]
}

type entry[V any] struct {
	once sync.Once
	v    V
	err  error
}

// Get returns the result of compute for key: computed by this call if
// the key is new, else the one the first call computed (waiting for it).
// An error is kept like a value.
func (m *Map[K, V]) Get(key K, compute func() (V, error)) (V, error) {
	m.mu.Lock()
	if m.m == nil {
		m.m = map[K]*entry[V]{}
	}
	e := m.m[key]
	if e == nil {
		e = &entry[V]{}
		m.m[key] = e
	}
	m.mu.Unlock()
	e.once.Do(func() { e.v, e.err = compute() })
	return e.v, e.err
}
