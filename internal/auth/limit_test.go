package auth

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func TestLimiterBacksOffExponentially(t *testing.T) {
	clk := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(LimiterConfig{Now: clk.Now})
	for i := range 4 {
		l.Fail("login:ada")
		if got := l.Allow("login:ada"); got != 0 {
			t.Fatalf("after %d failures: wait %s, want 0", i+1, got)
		}
	}
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		l.Fail("login:ada")
		if got := l.Allow("login:ada"); got != want {
			t.Fatalf("wait = %s, want %s", got, want)
		}
		if got := l.Allow("login:bob"); got != 0 {
			t.Fatalf("another key waits %s, want 0", got)
		}
		clk.Advance(want / 2)
		if got := l.Allow("login:bob", "login:ada"); got != want/2 {
			t.Fatalf("half way: wait = %s, want %s", got, want/2)
		}
		clk.Advance(want / 2)
		if got := l.Allow("login:ada"); got != 0 {
			t.Fatalf("after the wait: %s, want 0", got)
		}
	}
	// The wait is capped.
	for range 40 {
		l.Fail("ip:1")
	}
	if got := l.Allow("ip:1"); got != 15*time.Minute {
		t.Errorf("capped wait = %s, want 15m", got)
	}
	// Success forgets the key; time forgets it too.
	l.Succeed("login:ada")
	if got := l.Allow("login:ada"); got != 0 {
		t.Errorf("after Succeed: wait %s", got)
	}
	clk.Advance(time.Hour)
	l.Fail("ip:1")
	if got := l.Allow("ip:1"); got != 0 {
		t.Errorf("an hour later, one failure waits %s, want 0", got)
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range []Role{Read, Write, Admin} {
		got, err := ParseRole(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %v, %v", r, got, err)
		}
	}
	if _, err := ParseRole("owner"); err == nil {
		t.Error("ParseRole(owner) succeeded")
	}
	if !Admin.Allows(Write) || Read.Allows(Write) || !NoRole.Allows(NoRole) {
		t.Error("role order is wrong")
	}
}

// TestReserveLetsAtMostTheFreeAttemptsThrough checks Reserve decides and
// counts in one step: of 20 attempts at once, only the free ones pass,
// and a cancelled reservation gives its attempt back.
func TestReserveLetsAtMostTheFreeAttemptsThrough(t *testing.T) {
	clk := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(LimiterConfig{Now: clk.Now})
	var mu sync.Mutex
	var granted []*Reservation
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if r, wait := l.Reserve("login+ip:ada", "ip:1"); r != nil {
				mu.Lock()
				granted = append(granted, r)
				mu.Unlock()
			} else if wait <= 0 {
				t.Errorf("refused with wait %s", wait)
			}
		})
	}
	wg.Wait()
	if len(granted) != 5 {
		t.Fatalf("%d of 20 parallel attempts let through, want 5", len(granted))
	}
	// Cancelling (the password was right) gives the attempt back, once.
	granted[0].Cancel()
	granted[0].Cancel()
	if r, _ := l.Reserve("login+ip:ada", "ip:1"); r == nil {
		t.Error("a cancelled attempt was not given back")
	}
	if r, _ := l.Reserve("login+ip:ada", "ip:1"); r != nil {
		t.Error("Cancel twice gave back two attempts")
	}
	// Another key is not affected.
	if r, _ := l.Reserve("login+ip:ada\x00elsewhere", "ip:2"); r == nil {
		t.Error("another address is limited by this one's failures")
	}
}
