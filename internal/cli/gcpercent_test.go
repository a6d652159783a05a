package cli

import (
	"runtime/debug"
	"testing"
)

func TestSetGCPercent(t *testing.T) {
	was := debug.SetGCPercent(100)
	defer debug.SetGCPercent(was)
	for _, tc := range []struct {
		name string
		flag int
		env  string
		want int // 100: left as the runtime had it
	}{
		{"default", 0, "", DefaultGCPercent},
		{"GOGC from the environment is kept", 0, "200", 100},
		{"the flag wins over GOGC", 30, "200", 30},
		{"the flag", 80, "", 80},
	} {
		debug.SetGCPercent(100)
		setGCPercent(tc.flag, tc.env)
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("%s: GC percent %d, want %d", tc.name, got, tc.want)
		}
	}
}
