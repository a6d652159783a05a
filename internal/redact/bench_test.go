package redact_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/batonci/baton/internal/redact"
)

// benchChunks returns 1,000,000 log-like lines cut into 32 KiB chunks, as a
// command's output arrives from the shell, with a secret every 10,000 lines.
func benchChunks(secrets []string) (chunks [][]byte, size int64) {
	var all []byte
	for i := range 1_000_000 {
		if i%10_000 == 0 {
			all = fmt.Appendf(all, "%07d token=%s\n", i, secrets[i/10_000%len(secrets)])
			continue
		}
		all = fmt.Appendf(all, "%07d INFO compiling github.com/batonci/baton/internal/pkg%d\n", i, i%97)
	}
	for len(all) > 0 {
		n := min(32<<10, len(all))
		chunks = append(chunks, all[:n:n])
		all = all[n:]
	}
	for _, c := range chunks {
		size += int64(len(c))
	}
	return chunks, size
}

// BenchmarkRedact writes 1,000,000 lines through a Writer masking 5 secrets
// (plus their encodings). The baseline writes the same chunks straight to
// the destination.
func BenchmarkRedact(b *testing.B) {
	secrets := []string{
		"ghp_4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e",
		"AKIAIOSFODNN7EXAMPLE",
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"correct horse battery staple",
		"xoxb-123456789012-abcdefghijklmnop",
	}
	chunks, size := benchChunks(secrets)
	b.Run("baseline", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			for _, c := range chunks {
				_, _ = io.Discard.Write(c)
			}
		}
	})
	b.Run("redact", func(b *testing.B) {
		r := redact.New(secrets)
		b.SetBytes(size)
		for b.Loop() {
			w := r.Writer(io.Discard)
			for _, c := range chunks {
				_, _ = w.Write(c)
			}
			_ = w.Flush()
		}
	})
	b.Run("no-secrets", func(b *testing.B) {
		r := redact.New(nil)
		b.SetBytes(size)
		for b.Loop() {
			w := r.Writer(io.Discard)
			for _, c := range chunks {
				_, _ = w.Write(c)
			}
			_ = w.Flush()
		}
	})
}
