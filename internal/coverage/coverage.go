// Package coverage reads line coverage reports (Cobertura XML, LCOV and Go
// cover profiles) into one model: files of measured blocks, each covered
// or not. A block is a line in Cobertura and LCOV, and a Go profile's
// block of statements, weighted by its statement count, so that a Go
// profile's percentage is statement coverage, the one `go tool cover
// -func` prints as its total. Reports merge by file and block: a block
// that any report covered is covered. It is pure: bytes in, values out.
package coverage

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// Format names a report's format.
type Format string

// The formats Parse reads.
const (
	Cobertura Format = "cobertura"
	LCOV      Format = "lcov"
	Go        Format = "go"
	// Mixed is a merged report's format when its parts differ.
	Mixed Format = "mixed"
)

// Formats are the formats --format accepts.
var Formats = []Format{Cobertura, LCOV, Go}

// Report is the coverage of a set of source files.
type Report struct {
	Format Format `json:"format"`
	Files  []File `json:"files"` // sorted by path, each path once
}

// File is the coverage of one source file.
type File struct {
	Path   string  `json:"path"`
	Blocks []Block `json:"blocks"` // sorted by position, each position once
}

// Block is a measured unit of a file: a line (Cobertura, LCOV: StartLine
// = EndLine, no columns, one statement) or a Go profile's block of
// statements. Count is how many times it ran (0: not covered).
type Block struct {
	StartLine, StartCol, EndLine, EndCol int
	Stmts                                int
	Count                                int64
}

// MarshalJSON writes a block as [startLine, startCol, endLine, endCol,
// stmts, count], compact for reports of many thousands of lines.
func (b Block) MarshalJSON() ([]byte, error) {
	buf := make([]byte, 0, 32)
	buf = append(buf, '[')
	for i, v := range []int64{int64(b.StartLine), int64(b.StartCol), int64(b.EndLine), int64(b.EndCol), int64(b.Stmts), b.Count} {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendInt(buf, v, 10)
	}
	return append(buf, ']'), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (b *Block) UnmarshalJSON(data []byte) error {
	var v []int64
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	if len(v) != 6 {
		return fmt.Errorf("coverage block: want 6 numbers, got %d", len(v))
	}
	for _, n := range v[:5] {
		if n < 0 || n > 1<<31 {
			return fmt.Errorf("coverage block: %d is out of range", n)
		}
	}
	*b = Block{StartLine: int(v[0]), StartCol: int(v[1]), EndLine: int(v[2]), EndCol: int(v[3]), Stmts: int(v[4]), Count: v[5]}
	return nil
}

func (b Block) samePlace(o Block) bool {
	return b.StartLine == o.StartLine && b.StartCol == o.StartCol && b.EndLine == o.EndLine && b.EndCol == o.EndCol
}

func comparePlace(a, b Block) int {
	return cmp.Or(cmp.Compare(a.StartLine, b.StartLine), cmp.Compare(a.StartCol, b.StartCol),
		cmp.Compare(a.EndLine, b.EndLine), cmp.Compare(a.EndCol, b.EndCol))
}

// Totals are what a report measured: lines (statements in Go profiles)
// and how many of them ran.
type Totals struct {
	Lines   int64 `json:"lines"`
	Covered int64 `json:"covered"`
}

// Percent is Covered of Lines in percent (0 when nothing was measured).
func (t Totals) Percent() float64 {
	if t.Lines == 0 {
		return 0
	}
	return 100 * float64(t.Covered) / float64(t.Lines)
}

// Line says what t is in words: "81.3% (978 of 1203 lines)".
func (t Totals) Line() string {
	return fmt.Sprintf("%.1f%% (%d of %d lines)", t.Percent(), t.Covered, t.Lines)
}

// Totals adds up the report's files.
func (r Report) Totals() Totals {
	var t Totals
	for _, f := range r.Files {
		ft := f.Totals()
		t.Lines += ft.Lines
		t.Covered += ft.Covered
	}
	return t
}

// Totals adds up the file's blocks.
func (f File) Totals() Totals {
	var t Totals
	for _, b := range f.Blocks {
		t.Lines += int64(b.Stmts)
		if b.Count > 0 {
			t.Covered += int64(b.Stmts)
		}
	}
	return t
}

// Merge unites reports: their files by path, and each file's blocks by
// position; a block's counts add up (so it is covered when any report
// covered it) and its statements are the largest any report gave. The
// format is the reports' one, or Mixed.
func Merge(rs ...Report) Report {
	out := Report{Files: []File{}}
	byPath := map[string]int{}
	for i, r := range rs {
		switch {
		case i == 0:
			out.Format = r.Format
		case out.Format != r.Format:
			out.Format = Mixed
		}
		for _, f := range r.Files {
			j, ok := byPath[f.Path]
			if !ok {
				j = len(out.Files)
				byPath[f.Path] = j
				out.Files = append(out.Files, File{Path: f.Path})
			}
			out.Files[j].Blocks = append(out.Files[j].Blocks, f.Blocks...)
		}
	}
	for i := range out.Files {
		out.Files[i].Blocks = normalise(out.Files[i].Blocks, false)
	}
	slices.SortFunc(out.Files, func(a, b File) int { return cmp.Compare(a.Path, b.Path) })
	return out
}

// normalise sorts blocks by position and folds the blocks of one
// position into one: counts add up (set: any count is 1), statements are
// the largest.
func normalise(bs []Block, set bool) []Block {
	if !slices.IsSortedFunc(bs, comparePlace) {
		slices.SortStableFunc(bs, comparePlace)
	}
	out := bs[:0]
	for _, b := range bs {
		if n := len(out); n > 0 && out[n-1].samePlace(b) {
			last := &out[n-1]
			last.Stmts = max(last.Stmts, b.Stmts)
			if set {
				last.Count = max(last.Count, b.Count)
			} else {
				last.Count = saturatingAdd(last.Count, b.Count)
			}
			continue
		}
		out = append(out, b)
	}
	return out
}

func saturatingAdd(a, b int64) int64 {
	if s := a + b; s >= a || b < 0 {
		return s
	}
	return 1<<63 - 1
}
