package bashproc

import (
	"bytes"
	"testing"
)

func TestMarkerScannerSplits(t *testing.T) {
	const nonce = "NONCE234567ABCDE"
	marker := "\x1f" + nonce + ";42;x\n"
	for _, tc := range []struct {
		name, before, after string
	}{
		{"plain", "hello\nworld", "after"},
		{"empty", "", ""},
		{"lookalikes", "\x1f\x1fNONCE\x1f" + nonce[:5] + ";\x1f" + nonce + "X;0;\n", "\x1f"},
		{"ends with unit separator", "out\x1f", ""},
	} {
		stream := tc.before + marker + tc.after
		// Every split into three chunks.
		for i := 0; i <= len(stream); i++ {
			for j := i; j <= len(stream); j++ {
				var out bytes.Buffer
				var m markerScanner
				m.reset(&out)
				m.prefix = []byte("\x1f" + nonce + ";")
				var done bool
				for _, chunk := range []string{stream[:i], stream[i:j], stream[j:]} {
					if done || chunk == "" {
						continue
					}
					done = m.feed([]byte(chunk))
				}
				if !done {
					t.Fatalf("%s: split %d,%d: marker not found (output %q)", tc.name, i, j, out.String())
				}
				if out.String() != tc.before || m.status != 42 || !m.xtrace {
					t.Fatalf("%s: split %d,%d: output %q status %d xtrace %v; want %q 42 true",
						tc.name, i, j, out.String(), m.status, m.xtrace, tc.before)
				}
				// What follows the marker in the same chunk is kept.
				if !bytes.HasPrefix([]byte(tc.after), m.rest) {
					t.Fatalf("%s: split %d,%d: rest %q is not a prefix of %q", tc.name, i, j, m.rest, tc.after)
				}
			}
		}
	}
}

func TestMarkerScannerHoldsBackOnlyMarkerPrefixes(t *testing.T) {
	var out bytes.Buffer
	var m markerScanner
	m.reset(&out)
	m.prefix = []byte("\x1fNONCE;")
	for _, step := range []struct{ in, written string }{
		{"abc\x1f", "abc"},
		{"NON", "abc"},
		{"X", "abc\x1fNONX"},
		{"tail\x1fN", "abc\x1fNONXtail"},
		{"ONCE;0;\nrest", "abc\x1fNONXtail"},
	} {
		m.feed([]byte(step.in))
		if got := out.String(); got != step.written {
			t.Fatalf("after %q: written %q, want %q", step.in, got, step.written)
		}
	}
	if !m.done || string(m.rest) != "rest" {
		t.Errorf("done %v rest %q", m.done, m.rest)
	}
}

func TestShellQuote(t *testing.T) {
	if got := shellQuote("/tmp/it's dir"); got != `'/tmp/it'\''s dir'` {
		t.Errorf("got %s", got)
	}
}
