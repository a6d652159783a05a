package testreport

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// scanner is a fast tokenizer for the XML that test tools write: UTF-8
// elements, attributes, character data, the predefined and numeric
// entities, CDATA sections, comments and processing instructions. It
// reads well-formed documents several times faster than encoding/xml
// (it copies no input it does not return and translates no namespaces).
// Anything it does not handle exactly as encoding/xml would (a DOCTYPE, a
// prefixed name, another encoding, any malformed input) stops it with
// errSlowPath, and the document is read again with encoding/xml, which
// also gives the positioned error of a malformed one: the fast path never
// decides that a document is malformed, nor accepts one that is.
type scanner struct {
	data  []byte
	pos   int
	stack []string // open elements
	// pendingEnd is the end of an empty element (<a/>), returned next.
	pendingEnd string
	started    bool // an element was seen
	buf        []byte
}

// errSlowPath sends a document to encoding/xml.
var errSlowPath = errors.New("not for the fast path")

// newScanner returns a scanner of data, or nil when data is not for it:
// not valid UTF-8, or holding characters XML forbids.
func newScanner(data []byte) *scanner {
	if !utf8.Valid(data) || bytes.Contains(data, []byte("\uFFFE")) || bytes.Contains(data, []byte("\uFFFF")) {
		return nil
	}
	for _, c := range data {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return nil
		}
	}
	return &scanner{data: data}
}

// InputOffset is the offset of the next token.
func (s *scanner) InputOffset() int64 { return int64(s.pos) }

// Skip reads tokens until the end of the element most recently started.
func (s *scanner) Skip() error {
	depth := 0
	for {
		tok, err := s.Token()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }

func isNameByte(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' || c == '-' || c == '.' }

// name reads an ASCII name, with a prefix or not: local is the part
// after the prefix, as encoding/xml's Name.Local.
func (s *scanner) name() (full, local string, ok bool) {
	start, colon := s.pos, -1
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		first := s.pos == start || s.pos == colon+1
		if c == ':' && colon < 0 && !first {
			colon = s.pos
		} else if first && !isNameStart(c) || !first && !isNameByte(c) {
			break
		}
		s.pos++
	}
	if s.pos == start || s.pos == colon+1 {
		return "", "", false // no name, or nothing after the colon
	}
	full = string(s.data[start:s.pos])
	if colon < 0 {
		return full, full, true
	}
	return full, full[colon-start+1:], true
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) && isSpace(s.data[s.pos]) {
		s.pos++
	}
}

// Token returns the next element start or end or character data, or
// io.EOF at the end of a complete document.
func (s *scanner) Token() (xml.Token, error) {
	if s.pendingEnd != "" {
		name := s.pendingEnd
		s.pendingEnd = ""
		return xml.EndElement{Name: xml.Name{Local: name}}, nil
	}
	for {
		if s.pos >= len(s.data) {
			if len(s.stack) > 0 || !s.started {
				return nil, errSlowPath
			}
			return nil, io.EOF
		}
		if s.data[s.pos] != '<' {
			end := bytes.IndexByte(s.data[s.pos:], '<')
			if end < 0 {
				end = len(s.data) - s.pos
			}
			raw := s.data[s.pos : s.pos+end]
			s.pos += end
			text, ok := s.unescape(raw)
			if !ok {
				return nil, errSlowPath
			}
			if len(s.stack) == 0 {
				if len(bytes.TrimLeft(text, " \t\r\n")) > 0 {
					return nil, errSlowPath // text outside the root
				}
				continue
			}
			return xml.CharData(text), nil
		}
		rest := s.data[s.pos:]
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.Index(rest, []byte("?>"))
			if end < 0 {
				return nil, errSlowPath
			}
			if !s.declarationOK(rest[2:end]) {
				return nil, errSlowPath
			}
			s.pos += end + 2
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("--"))
			if end < 0 || !bytes.HasPrefix(rest[4+end:], []byte("-->")) {
				return nil, errSlowPath
			}
			s.pos += 4 + end + 3
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			end := bytes.Index(rest[9:], []byte("]]>"))
			if end < 0 || len(s.stack) == 0 {
				return nil, errSlowPath
			}
			s.pos += 9 + end + 3
			text := rest[9 : 9+end]
			if bytes.IndexByte(text, '\r') >= 0 {
				text = bytes.ReplaceAll(bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
			}
			return xml.CharData(text), nil
		case bytes.HasPrefix(rest, []byte("</")):
			s.pos += 2
			name, local, ok := s.name()
			if !ok {
				return nil, errSlowPath
			}
			s.skipSpace()
			if s.pos >= len(s.data) || s.data[s.pos] != '>' || len(s.stack) == 0 || s.stack[len(s.stack)-1] != name {
				return nil, errSlowPath
			}
			s.pos++
			s.stack = s.stack[:len(s.stack)-1]
			return xml.EndElement{Name: xml.Name{Local: local}}, nil
		default:
			return s.startElement()
		}
	}
}

func (s *scanner) startElement() (xml.Token, error) {
	s.pos++ // <
	name, local, ok := s.name()
	if !ok || len(s.stack) == 0 && s.started {
		return nil, errSlowPath // a bad name, or a second root
	}
	var attrs []xml.Attr
	for {
		hadSpace := s.pos < len(s.data) && isSpace(s.data[s.pos])
		s.skipSpace()
		if s.pos >= len(s.data) {
			return nil, errSlowPath
		}
		switch c := s.data[s.pos]; {
		case c == '>':
			s.pos++
			s.started = true
			s.stack = append(s.stack, name)
			return xml.StartElement{Name: xml.Name{Local: local}, Attr: attrs}, nil
		case c == '/':
			if s.pos+1 >= len(s.data) || s.data[s.pos+1] != '>' {
				return nil, errSlowPath
			}
			s.pos += 2
			s.started = true
			s.pendingEnd = local
			return xml.StartElement{Name: xml.Name{Local: local}, Attr: attrs}, nil
		case !hadSpace:
			return nil, errSlowPath
		}
		_, an, ok := s.name()
		if !ok {
			return nil, errSlowPath
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '=' {
			return nil, errSlowPath
		}
		s.pos++
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' && s.data[s.pos] != '\'' {
			return nil, errSlowPath
		}
		q := s.data[s.pos]
		s.pos++
		end := bytes.IndexByte(s.data[s.pos:], q)
		if end < 0 {
			return nil, errSlowPath
		}
		raw := s.data[s.pos : s.pos+end]
		s.pos += end + 1
		if bytes.IndexByte(raw, '<') >= 0 {
			return nil, errSlowPath
		}
		v, ok := s.unescape(raw)
		if !ok {
			return nil, errSlowPath
		}
		attrs = append(attrs, xml.Attr{Name: xml.Name{Local: an}, Value: string(v)})
	}
}

// declarationOK accepts an XML declaration in UTF-8 (or ASCII) and other
// processing instructions.
func (s *scanner) declarationOK(pi []byte) bool {
	if !bytes.HasPrefix(pi, []byte("xml")) || len(pi) > 3 && !isSpace(pi[3]) {
		return true
	}
	if s.started || s.pos != 0 {
		return false
	}
	i := bytes.Index(pi, []byte("encoding"))
	if i < 0 {
		return true
	}
	v := pi[i+len("encoding"):]
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 || v[0] != '=' {
		return false
	}
	v = bytes.TrimLeft(v[1:], " \t\r\n")
	if len(v) < 2 || v[0] != '"' && v[0] != '\'' {
		return false
	}
	end := bytes.IndexByte(v[1:], v[0])
	if end < 0 {
		return false
	}
	switch string(bytes.ToLower(v[1 : 1+end])) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return true
	}
	return false
}

// unescape replaces the entities of raw, and its line ends with newlines
// as XML does; ok is false for an entity it does not know.
func (s *scanner) unescape(raw []byte) ([]byte, bool) {
	if bytes.IndexByte(raw, '\r') >= 0 {
		raw = bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
	}
	amp := bytes.IndexByte(raw, '&')
	if amp < 0 {
		return raw, true
	}
	out := append(s.buf[:0], raw[:amp]...)
	for i := amp; i < len(raw); {
		c := raw[i]
		if c != '&' {
			out = append(out, c)
			i++
			continue
		}
		semi := bytes.IndexByte(raw[i:], ';')
		if semi < 0 {
			return nil, false
		}
		ent := raw[i+1 : i+semi]
		i += semi + 1
		switch string(ent) {
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "amp":
			out = append(out, '&')
		case "quot":
			out = append(out, '"')
		case "apos":
			out = append(out, '\'')
		default:
			if len(ent) < 2 || ent[0] != '#' {
				return nil, false
			}
			var n uint64
			var err error
			if ent[1] == 'x' {
				n, err = strconv.ParseUint(string(ent[2:]), 16, 32)
			} else {
				n, err = strconv.ParseUint(string(ent[1:]), 10, 32)
			}
			r := rune(n)
			if err != nil || !isXMLChar(r) {
				return nil, false
			}
			out = utf8.AppendRune(out, r)
		}
	}
	s.buf = out[:0]
	return bytes.Clone(out), true
}

// isXMLChar reports whether XML allows the character r.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
