package dispatch

import "testing"

func TestOnFreshStackRunsAndRepanics(t *testing.T) {
	var ran bool
	onFreshStack(func() { ran = true })
	if !ran {
		t.Fatal("f did not run before onFreshStack returned")
	}
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want the panic of f", p)
		}
	}()
	onFreshStack(func() { panic("boom") })
	t.Fatal("a panic in f did not go on in the caller")
}
