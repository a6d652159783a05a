package sizelimit

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReader(t *testing.T) {
	tooLarge := errors.New("too large")
	for _, tc := range []struct {
		in   string
		n    int64
		want string
		over bool
	}{
		{"", 3, "", false},
		{"abc", 3, "abc", false},
		{"ab", 3, "ab", false},
		{"abcd", 3, "abc", true},
		{"a", 0, "", true},
	} {
		r := New(strings.NewReader(tc.in), tc.n, tooLarge)
		got, err := io.ReadAll(r)
		if string(got) != tc.want || r.Over() != tc.over {
			t.Errorf("%q limited to %d: read %q, over %v; want %q, over %v", tc.in, tc.n, got, r.Over(), tc.want, tc.over)
		}
		if tc.over && !errors.Is(err, tooLarge) || !tc.over && err != nil {
			t.Errorf("%q limited to %d: error %v", tc.in, tc.n, err)
		}
	}
}
