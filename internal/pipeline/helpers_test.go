package pipeline

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// fakeCheck stands in for the `when` parser (internal/when) in tests: it
// rejects unterminated strings, unbalanced parentheses, and result /
// result_reason where they are not allowed, at the offending byte offset.
func fakeCheck(expr string, allowResult bool) (int, string, bool) {
	depth, open := 0, -1
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if open >= 0 {
			if c == '\'' {
				open = -1
			}
			continue
		}
		switch {
		case c == '\'':
			open = i
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return i, `unexpected ")"`, false
			}
		case !allowResult && keywordAt(expr, i, "result"):
			return i, "result and result_reason are only allowed in auto_promote conditions", false
		}
	}
	if open >= 0 {
		return open, "unterminated string", false
	}
	if depth > 0 {
		return len(expr), `missing ")"`, false
	}
	return 0, "", true
}

func keywordAt(s string, i int, word string) bool {
	ident := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if !strings.HasPrefix(strings.ToLower(s[i:]), word) || (i > 0 && ident(s[i-1])) {
		return false
	}
	rest := s[i+len(word):]
	rest = strings.TrimPrefix(strings.TrimPrefix(rest, "_reason"), "_REASON")
	return rest == "" || !ident(rest[0])
}

func TestFakeCheck(t *testing.T) {
	tests := []struct {
		expr        string
		allowResult bool
		wantOffset  int
		wantOK      bool
	}{
		{"branch = 'master'", false, 0, true},
		{"result = 'passed'", true, 0, true},
		{"branch = 'x' and result = 'passed'", false, 17, false},
		{"branch = 'x' and result_reason = 'test'", false, 17, false},
		{"branch = 'results'", false, 0, true},
		{"branch = 'x", false, 9, false},
		{"(a", false, 2, false},
	}
	for _, tt := range tests {
		offset, _, ok := fakeCheck(tt.expr, tt.allowResult)
		if ok != tt.wantOK || (!ok && offset != tt.wantOffset) {
			t.Errorf("fakeCheck(%q, %v) = %d, %v; want %d, %v", tt.expr, tt.allowResult, offset, ok, tt.wantOffset, tt.wantOK)
		}
	}
}

// dump renders a decoded value as an indented outline for golden files:
// one line per set field, structs headed by their type and position,
// positions in file main shown as @line:col.
func dump(v any, main string) string {
	var b strings.Builder
	dumpValue(&b, "", "  ", "", reflect.ValueOf(v), main)
	return b.String()
}

var posType = reflect.TypeFor[Pos]()

// dumpValue writes v's first line after prefix and its fields after indent.
func dumpValue(b *strings.Builder, prefix, indent, label string, v reflect.Value, main string) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		head := v.Type().Name()
		if label != "" && label != head {
			head = label + ": " + head
		}
		if p := v.FieldByName("Pos"); p.IsValid() && p.Type() == posType {
			head += " " + formatPos(p.Interface().(Pos), main)
		}
		fmt.Fprintf(b, "%s%s\n", prefix, head)
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Name == "Pos" || v.Field(i).IsZero() {
				continue
			}
			dumpValue(b, indent, indent+"  ", f.Name, v.Field(i), main)
		}
	case reflect.Slice:
		if ds, ok := v.Interface().(Diagnostics); ok {
			fmt.Fprintf(b, "%s%s:\n", prefix, label)
			for _, d := range ds {
				fmt.Fprintf(b, "%s- %s\n", indent, d)
			}
			return
		}
		if v.Type().Elem().Kind() != reflect.Pointer {
			var items []string
			for i := range v.Len() {
				items = append(items, scalarText(v.Index(i)))
			}
			fmt.Fprintf(b, "%s%s: [%s]\n", prefix, label, strings.Join(items, ", "))
			return
		}
		if v.Len() == 0 {
			fmt.Fprintf(b, "%s%s: []\n", prefix, label)
			return
		}
		fmt.Fprintf(b, "%s%s:\n", prefix, label)
		for i := range v.Len() {
			dumpValue(b, indent+"- ", indent+"  ", "", v.Index(i), main)
		}
	default:
		fmt.Fprintf(b, "%s%s: %s\n", prefix, label, scalarText(v))
	}
}

func scalarText(v reflect.Value) string {
	if v.Kind() == reflect.String {
		return strconv.Quote(v.String())
	}
	return fmt.Sprint(v.Interface())
}

func formatPos(p Pos, main string) string {
	if p.File == main {
		return fmt.Sprintf("@%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("@%s:%d:%d", p.File, p.Line, p.Col)
}
