package pipeline

import (
	"fmt"
	"strings"
)

// Diagnostic is one problem found in a pipeline file, at a position.
type Diagnostic struct {
	Pos     Pos
	Message string
	// Source is the text of the line Pos points at (without its line
	// ending), for excerpts; empty when unknown.
	Source string
}

// String renders d as "file:line:col: message".
func (d Diagnostic) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", d.Pos.File, d.Pos.Line, d.Pos.Col, d.Message)
}

// Diagnostics is a list of problems, in source order. A non-empty list is an
// error.
type Diagnostics []Diagnostic

// Error renders every diagnostic on its own line.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Err returns ds as an error, or nil when it is empty.
func (ds Diagnostics) Err() error {
	if len(ds) == 0 {
		return nil
	}
	return ds
}
