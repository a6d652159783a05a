package pipeline

import (
	"bytes"
	"strings"
)

// archive is a txtar archive (the golang.org/x/tools/txtar format: a
// comment, then files each introduced by a "-- name --" line). It is parsed
// here rather than with rogpeppe/go-internal/txtar, which since v1.16.0
// wraps golang.org/x/tools/txtar, a module go.mod does not list yet.
type archive struct {
	comment []byte
	files   []archiveFile
}

type archiveFile struct {
	name string
	data []byte
}

// parseArchive parses a txtar archive.
func parseArchive(data []byte) *archive {
	a := &archive{}
	var cur *[]byte = &a.comment
	for len(data) > 0 {
		line := data
		rest := []byte(nil)
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, rest = data[:i+1], data[i+1:]
		}
		if name, ok := fileMarker(line); ok {
			a.files = append(a.files, archiveFile{name: name})
			cur = &a.files[len(a.files)-1].data
		} else {
			*cur = append(*cur, line...)
		}
		data = rest
	}
	return a
}

// fileMarker reports whether line is "-- name --".
func fileMarker(line []byte) (string, bool) {
	s := strings.TrimRight(string(line), "\r\n")
	if !strings.HasPrefix(s, "-- ") || !strings.HasSuffix(s, " --") || len(s) < 7 {
		return "", false
	}
	return strings.TrimSpace(s[3 : len(s)-3]), true
}

// format renders a, ending every non-empty section with a newline.
func (a *archive) format() []byte {
	var b bytes.Buffer
	section := func(data []byte) {
		b.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	section(a.comment)
	for _, f := range a.files {
		b.WriteString("-- " + f.name + " --\n")
		section(f.data)
	}
	return b.Bytes()
}
