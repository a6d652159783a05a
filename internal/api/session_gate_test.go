package api

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/batonci/baton/internal/auth"
)

// TestPasswordChecksAreGated checks at most MaxPasswordChecks passwords
// are hashed at once: with the gate full, a check waits (and gives up
// with its request), and runs as soon as a place frees up.
func TestPasswordChecksAreGated(t *testing.T) {
	a := New(Config{MaxPasswordChecks: 2})
	if cap(a.hashing) != 2 {
		t.Fatalf("gate of %d, want 2", cap(a.hashing))
	}
	hash, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	a.hashing <- struct{}{}
	a.hashing <- struct{}{}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := a.checkPassword(ctx, hash, "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("check with the gate full: %v, want it to wait until its request ends", err)
	}
	done := make(chan bool)
	go func() {
		ok, _ := a.checkPassword(t.Context(), hash, "pw")
		done <- ok
	}()
	select {
	case <-done:
		t.Fatal("a check ran with the gate full")
	case <-time.After(50 * time.Millisecond):
	}
	<-a.hashing
	if ok := <-done; !ok {
		t.Error("the right password failed once the gate let it through")
	}
	if New(Config{}).cfg.MaxPasswordChecks != 4 {
		t.Error("default gate is not 4")
	}
}
