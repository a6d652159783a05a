package memo_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/batonci/baton/internal/memo"
)

// TestGetComputesEachKeyOnce: many callers at once, on two keys, run
// each key's computation once and all get its result, error included.
func TestGetComputesEachKeyOnce(t *testing.T) {
	var m memo.Map[string, int]
	var calls atomic.Int32
	boom := errors.New("boom")
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			key := []string{"a", "b"}[i%2]
			v, err := m.Get(key, func() (int, error) {
				calls.Add(1)
				if key == "b" {
					return 0, boom
				}
				return 7, nil
			})
			if key == "a" && (v != 7 || err != nil) {
				t.Errorf("Get(a) = %d, %v; want 7, nil", v, err)
			}
			if key == "b" && !errors.Is(err, boom) {
				t.Errorf("Get(b) error = %v; want boom", err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 2 {
		t.Errorf("%d computations for two keys, want 2", n)
	}
}
