package redact_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/redact"
	"github.com/google/go-cmp/cmp"
)

// reference masks s the slow, obvious way: every occurrence of every needle,
// overlapping occurrences merged, each merged range replaced by one mask.
func reference(needles []string, s string) string {
	type iv struct{ a, b int }
	var ivs []iv
	for _, n := range needles {
		for i := 0; i+len(n) <= len(s); i++ {
			if s[i:i+len(n)] == n {
				ivs = append(ivs, iv{i, i + len(n)})
			}
		}
	}
	slices.SortFunc(ivs, func(x, y iv) int { return x.a - y.a })
	var merged []iv
	for _, v := range ivs {
		if k := len(merged) - 1; k >= 0 && v.a < merged[k].b {
			merged[k].b = max(merged[k].b, v.b)
			continue
		}
		merged = append(merged, v)
	}
	var out strings.Builder
	cur := 0
	for _, v := range merged {
		out.WriteString(s[cur:v.a])
		out.WriteString(redact.Mask)
		cur = v.b
	}
	out.WriteString(s[cur:])
	return out.String()
}

// recorder records each Write it receives.
type recorder struct {
	writes [][]byte
	ptrs   []*byte
}

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	if len(p) > 0 {
		r.ptrs = append(r.ptrs, &p[0])
	}
	return len(p), nil
}

func (r *recorder) String() string { return string(bytes.Join(r.writes, nil)) }

// redactChunks writes chunks through a fresh Writer and flushes.
func redactChunks(t *testing.T, r *redact.Redactor, chunks ...string) string {
	t.Helper()
	var rec recorder
	w := r.Writer(&rec)
	for _, c := range chunks {
		n, err := w.Write([]byte(c))
		if err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v; want %d, nil", c, n, err, len(c))
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, p := range rec.writes {
		if len(p) == 0 {
			t.Errorf("write %d is empty", i)
		}
	}
	return rec.String()
}

func TestRedact(t *testing.T) {
	pem := "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\r\nXyZ0a1b2c3d4e5f6\n-----END KEY-----\n"
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"none", nil, "hello world\n", "hello world\n"},
		{"plain", []string{"hunter22"}, "pw=hunter22\n", "pw=[MASKED]\n"},
		{"twice", []string{"hunter22"}, "hunter22hunter22 hunter22", "[MASKED][MASKED] [MASKED]"},
		{"no trailing newline", []string{"hunter22"}, "x hunter22", "x [MASKED]"},
		{"short not masked", []string{"abc"}, "abc abc", "abc abc"},
		{"empty ignored", []string{""}, "abc", "abc"},
		{"min length", []string{"abcd"}, "xabcdx", "x[MASKED]x"},
		{"multi-line value", []string{pem}, pem, "[MASKED]"},
		{
			"each line of multi-line value", []string{pem},
			"key line: MIIBOgIBAAJBAKj34GkxFhD9\nother: XyZ0a1b2c3d4e5f6!\n",
			"key line: [MASKED]\nother: [MASKED]!\n",
		},
		{
			"short lines of multi-line value kept", []string{"ab\ncd\nlongline"},
			"ab cd longline", "ab cd [MASKED]",
		},
		{"base64 std", []string{"s3cr3t-value?"}, "b64=" + base64.StdEncoding.EncodeToString([]byte("s3cr3t-value?")), "b64=[MASKED]"},
		{"base64 raw", []string{"s3cr3t-value?"}, "b64=" + base64.RawStdEncoding.EncodeToString([]byte("s3cr3t-value?")) + ".", "b64=[MASKED]."},
		{"base64 url", []string{"s3cr3t-value?>"}, base64.URLEncoding.EncodeToString([]byte("s3cr3t-value?>")), "[MASKED]"},
		{"base64 raw url", []string{"s3cr3t-value?>"}, base64.RawURLEncoding.EncodeToString([]byte("s3cr3t-value?>")), "[MASKED]"},
		{"base64 of echo", []string{"token1234"}, base64.StdEncoding.EncodeToString([]byte("token1234\n")) + "\n", "[MASKED]\n"},
		{"query escaped", []string{"p@ss w/rd&x"}, "?pw=" + url.QueryEscape("p@ss w/rd&x"), "?pw=[MASKED]"},
		{"path escaped", []string{"p@ss w/rd&x"}, "/u/" + url.PathEscape("p@ss w/rd&x") + "/", "/u/[MASKED]/"},
		{"json escaped", []string{"a\"b\\c\nd<e>"}, func() string { b, _ := json.Marshal(map[string]string{"k": "a\"b\\c\nd<e>"}); return string(b) }(), `{"k":"[MASKED]"}`},
		{"set -x quoting", []string{"it's secret"}, "+ echo 'it'\\''s secret'\n", "+ echo '[MASKED]'\n"},
		{"set -x plain", []string{"tok-9f8e7d"}, "+ curl -H 'Authorization: tok-9f8e7d' x\n", "+ curl -H 'Authorization: [MASKED]' x\n"},
		{"overlap longest wins", []string{"secret", "secretvalue"}, "a secretvalue b secret c", "a [MASKED] b [MASKED] c"},
		{"overlap chained", []string{"abcdef", "defghi"}, "xabcdefghix", "x[MASKED]x"},
		{"contained", []string{"xxsecretxx", "secret"}, "1xxsecretxx2secret3", "1[MASKED]2[MASKED]3"},
		{"unicode", []string{"pässwörd€"}, "→pässwörd€←", "→[MASKED]←"},
		{"binary", []string{"\x00\xff\x01\xfe"}, "a\x00\xff\x01\xfeb", "a[MASKED]b"},
		{"prefix then mismatch", []string{"abcdefgh"}, "abcdefgX abcdefgh", "abcdefgX [MASKED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := redact.New(tt.secrets)
			if got := redactChunks(t, r, tt.in); got != tt.want {
				t.Errorf("one write:\ngot  %q\nwant %q", got, tt.want)
			}
			// Split at every byte boundary.
			for i := 0; i <= len(tt.in); i++ {
				if got := redactChunks(t, r, tt.in[:i], tt.in[i:]); got != tt.want {
					t.Fatalf("split at %d:\ngot  %q\nwant %q", i, got, tt.want)
				}
			}
			// One byte at a time.
			var bs []string
			for i := range len(tt.in) {
				bs = append(bs, tt.in[i:i+1])
			}
			if got := redactChunks(t, r, bs...); got != tt.want {
				t.Errorf("byte by byte:\ngot  %q\nwant %q", got, tt.want)
			}
			if got := r.String(tt.in); got != tt.want {
				t.Errorf("String:\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestRedactRandomAgainstReference compares random secrets over tiny
// alphabets, so that matches overlap a lot, with the obvious implementation,
// writing the input in random chunks.
func TestRedactRandomAgainstReference(t *testing.T) {
	for _, tc := range []struct {
		secretBytes, inputBytes string
		extra, maxInput         int
	}{
		{"abc", "abcab\n", 4, 80},
		{"ab", "ab", 2, 60},
		{"abcd", "abcdabcd \n", 30, 300},
	} {
		rng := rand.New(rand.NewPCG(1, uint64(len(tc.inputBytes))))
		for range 1000 {
			var secrets []string
			for range 1 + rng.IntN(4) {
				b := make([]byte, redact.MinLength+rng.IntN(tc.extra))
				for i := range b {
					b[i] = tc.secretBytes[rng.IntN(len(tc.secretBytes))]
				}
				secrets = append(secrets, string(b))
			}
			in := make([]byte, rng.IntN(tc.maxInput))
			for i := range in {
				in[i] = tc.inputBytes[rng.IntN(len(tc.inputBytes))]
			}
			// The encodings of such secrets contain other bytes, so only
			// the raw values can occur in the input.
			want := reference(secrets, string(in))
			r := redact.New(secrets)
			var chunks []string
			for rest := string(in); len(rest) > 0; {
				n := 1 + rng.IntN(len(rest))
				chunks = append(chunks, rest[:n])
				rest = rest[n:]
			}
			if got := redactChunks(t, r, chunks...); got != want {
				t.Fatalf("secrets %q, chunks %q:\ngot  %q\nwant %q", secrets, chunks, got, want)
			}
		}
	}
}

func TestPassthroughWithoutSecrets(t *testing.T) {
	for _, secrets := range [][]string{nil, {""}, {"ab"}} {
		r := redact.New(secrets)
		if r.Needles() != 0 {
			t.Errorf("New(%q).Needles() = %d, want 0", secrets, r.Needles())
		}
		var rec recorder
		w := r.Writer(&rec)
		p := []byte("some output\nwith ab in it")
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		if len(rec.ptrs) != 1 || rec.ptrs[0] != &p[0] {
			t.Errorf("secrets %q: Write did not pass the caller's slice through", secrets)
		}
	}
}

func TestNoCopyWhenNothingMatches(t *testing.T) {
	r := redact.New([]string{"zzzz-secret"})
	var rec recorder
	w := r.Writer(&rec)
	p := []byte("ordinary line\nanother line\n")
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if len(rec.ptrs) != 1 || rec.ptrs[0] != &p[0] || len(rec.writes[0]) != len(p) {
		t.Errorf("writes = %q; want the caller's slice passed through whole", rec.writes)
	}
}

func TestHoldsBackOnlyPossiblePrefix(t *testing.T) {
	r := redact.New([]string{"secret-token"})
	var rec recorder
	w := r.Writer(&rec)
	for _, step := range []struct{ in, flushed string }{
		{"line one\n", "line one\n"},
		{"value: secr", "line one\nvalue: "},
		{"et-tok", "line one\nvalue: "},
		{"en!\n", "line one\nvalue: [MASKED]!\n"},
		{"sec", "line one\nvalue: [MASKED]!\n"},
		{"ond\n", "line one\nvalue: [MASKED]!\nsecond\n"},
		{"s", "line one\nvalue: [MASKED]!\nsecond\n"},
	} {
		if _, err := w.Write([]byte(step.in)); err != nil {
			t.Fatal(err)
		}
		if got := rec.String(); got != step.flushed {
			t.Fatalf("after writing %q: got %q, want %q", step.in, got, step.flushed)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.String(), "line one\nvalue: [MASKED]!\nsecond\ns"; got != want {
		t.Errorf("after Flush: got %q, want %q", got, want)
	}
	// One Write in, at most one Write out.
	if len(rec.writes) > 5 {
		t.Errorf("%d writes for 7 Write calls and a Flush: %q", len(rec.writes), rec.writes)
	}
}

func TestShortSecrets(t *testing.T) {
	r := redact.New([]string{"long-enough", "abc", "", "x", "abcd"})
	if diff := cmp.Diff([]int{1, 3}, r.ShortSecrets()); diff != "" {
		t.Errorf("ShortSecrets() mismatch (-want +got):\n%s", diff)
	}
	if r.Needles() == 0 {
		t.Error("Needles() = 0, want > 0")
	}
}

func TestWriterReusableAfterFlush(t *testing.T) {
	r := redact.New([]string{"secret1"})
	var rec recorder
	w := r.Writer(&rec)
	for i := range 3 {
		fmt.Fprintf(w, "%d secr", i)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "et1\n")
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := rec.String(), "0 secret1\n1 secret1\n2 secret1\n"; got != want {
		t.Errorf("got %q, want %q (Flush ends a stream: no match across it)", got, want)
	}
}
