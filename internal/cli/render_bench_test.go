package cli

import (
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/ci"
)

// BenchmarkTextRendererMillionLines: the live view of a job printing
// 1,000,000 short lines (seq's), given in 64 KiB chunks as the shell
// executor reads them, written to io.Discard: the prefixing and
// buffering alone.
func BenchmarkTextRendererMillionLines(b *testing.B) {
	var out strings.Builder
	for i := 1; i <= 1_000_000; i++ {
		out.WriteString(strconv.Itoa(i))
		out.WriteByte('\n')
	}
	benchmarkTextRenderer(b, out.String())
}

// BenchmarkTextRendererLogLines: the same with 1,000,000 lines of 8 to
// 120 bytes, as a build's log has: mostly longer than the short lines
// copied as words, some shorter.
func BenchmarkTextRendererLogLines(b *testing.B) {
	var out strings.Builder
	const text = "compiling github.com/batonci/baton/internal/cli: ok  0.412s coverage 81.2% of statements in 42 files"
	for i := range 1_000_000 {
		n := 8 + i*7919%113
		out.WriteString(strconv.Itoa(i))
		out.WriteString(text[:min(n, len(text))])
		out.WriteByte('\n')
	}
	benchmarkTextRenderer(b, out.String())
}

func benchmarkTextRenderer(b *testing.B, output string) {
	var chunks []string
	for s := output; s != ""; {
		n := min(len(s), 64<<10)
		chunks = append(chunks, s[:n])
		s = s[n:]
	}
	b.SetBytes(int64(len(output)))
	b.ReportAllocs()
	for b.Loop() {
		r := newTextRenderer(io.Discard, false, nil)
		r.event(ci.Event{Kind: ci.EventCmdStarted, Block: "Block", Job: "Print", Directive: "seq 1000000"})
		for _, c := range chunks {
			r.event(ci.Event{Kind: ci.EventCmdOutput, Block: "Block", Job: "Print", Output: c})
		}
		r.flush()
	}
}
