package apiv1

import (
	"fmt"
	"strconv"
	"strings"
)

// Severity says whether a diagnostic stops the pipeline from running.
type Severity string

// The severities.
const (
	// SeverityError makes a pipeline file invalid: it does not run.
	SeverityError Severity = "error"
	// SeverityWarning is a problem the pipeline runs despite (a value
	// Baton accepts more leniently than Semaphore, a deprecated form).
	SeverityWarning Severity = "warning"
)

// Diagnostic is one positioned problem of a pipeline file. Line and
// Column count from 1; both are 0 when the problem has no position.
type Diagnostic struct {
	File     string   `json:"file,omitempty"`
	Line     int      `json:"line,omitempty"`
	Column   int      `json:"column,omitempty"`
	Message  string   `json:"message"`
	Severity Severity `json:"severity"`
}

// String is "file:line:col: message", or the message alone without a
// position.
func (d Diagnostic) String() string {
	if d.Line == 0 {
		return d.Message
	}
	return fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Column, d.Message)
}

// ParseDiagnostics reads diagnostics written as text, one
// "file:line:col: message" per line (how servers stored them before they
// were kept structured), each with severity sev. A line without a
// position keeps only its message; the file name may contain colons.
func ParseDiagnostics(text string, sev Severity) []Diagnostic {
	var out []Diagnostic
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		d, ok := parsePositioned(line)
		if !ok {
			d = Diagnostic{Message: line}
		}
		d.Severity = sev
		out = append(out, d)
	}
	return out
}

// parsePositioned splits "file:line:col: message": the first ": " that
// follows two numbers separated by colons ends the position.
func parsePositioned(line string) (Diagnostic, bool) {
	rest := line
	for off := 0; ; {
		i := strings.Index(rest[off:], ": ")
		if i < 0 {
			return Diagnostic{}, false
		}
		head, msg := rest[:off+i], rest[off+i+2:]
		off += i + 2
		file, col, ok1 := cutLastNumber(head)
		file, ln, ok2 := cutLastNumber(file)
		if ok1 && ok2 && file != "" {
			return Diagnostic{File: file, Line: ln, Column: col, Message: msg}, true
		}
	}
}

// cutLastNumber splits "a:12" into "a" and 12.
func cutLastNumber(s string) (string, int, bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 0 {
		return s, 0, false
	}
	return s[:i], n, true
}
