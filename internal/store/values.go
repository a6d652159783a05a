package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// How values are stored, the same on both dialects where possible:
//   - times: UTC, microsecond precision; TIMESTAMPTZ on PostgreSQL, fixed
//     width text (timeLayout, which sorts like the times) on SQLite; the
//     zero time is NULL.
//   - durations: BIGINT milliseconds.
//   - JSON documents (Pipeline.Graph, Job.Spec): json on PostgreSQL (kept
//     byte for byte, unlike jsonb), TEXT on SQLite; empty is NULL.
//   - string lists: JSON arrays in TEXT; an empty list reads back as nil.

// timeLayout is how SQLite stores times.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// normTime rounds *t down to what the store keeps.
func normTime(t *time.Time) {
	if t.IsZero() {
		*t = time.Time{}
		return
	}
	*t = t.UTC().Truncate(time.Microsecond)
}

// normDur rounds *d down to what the store keeps.
func normDur(d *time.Duration) { *d = d.Truncate(time.Millisecond) }

// ts is the query argument for a time: NULL for the zero time.
func (tx *Tx) ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	if tx.db.dialect == SQLite {
		return t.Format(timeLayout)
	}
	return t
}

// ms is the query argument for a duration.
func ms(d time.Duration) int64 { return d.Milliseconds() }

// nullStr is the query argument for an optional reference: NULL for "".
func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonArg is the query argument for a JSON document: NULL when empty.
func jsonArg(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// listArg is the query argument for a list of strings.
func listArg(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil {
		panic(err) // []string always marshals
	}
	return string(b)
}

// timeCol scans a time column.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time:
		*c.t = v.UTC()
	case string:
		return c.parse(v)
	case []byte:
		return c.parse(string(v))
	default:
		return fmt.Errorf("scan time: unexpected %T", v)
	}
	return nil
}

func (c timeCol) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("scan time: %w", err)
	}
	*c.t = t.UTC()
	return nil
}

// durCol scans a duration column (milliseconds).
type durCol struct{ d *time.Duration }

func (c durCol) Scan(v any) error {
	n, ok := v.(int64)
	if !ok {
		return fmt.Errorf("scan duration: unexpected %T", v)
	}
	*c.d = time.Duration(n) * time.Millisecond
	return nil
}

// strCol scans a nullable text column; NULL reads as "".
type strCol struct{ s *string }

func (c strCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.s = ""
	case string:
		*c.s = v
	case []byte:
		*c.s = string(v)
	default:
		return fmt.Errorf("scan string: unexpected %T", v)
	}
	return nil
}

// jsonCol scans a JSON document column; NULL reads as nil.
type jsonCol struct{ raw *json.RawMessage }

func (c jsonCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.raw = nil
	case string:
		*c.raw = json.RawMessage(v)
	case []byte:
		*c.raw = append(json.RawMessage(nil), v...)
	default:
		return fmt.Errorf("scan json: unexpected %T", v)
	}
	return nil
}

// listCol scans a list of strings stored as a JSON array.
type listCol struct{ l *[]string }

func (c listCol) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		*c.l = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("scan list: unexpected %T", v)
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("scan list: %w", err)
	}
	if len(l) == 0 {
		l = nil
	}
	*c.l = l
	return nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface{ Scan(dest ...any) error }

// rowPart is one table's share of a row that holds several (a join): the
// destinations of its columns, in order, and what to make of them once
// the row is scanned (done may be nil).
type rowPart struct {
	dest []any
	done func() error
}

// scanParts scans one row whose columns are those of parts, in order.
func scanParts(s scanner, parts ...rowPart) error {
	var dest []any
	for _, p := range parts {
		dest = append(dest, p.dest...)
	}
	if err := s.Scan(dest...); err != nil {
		return err
	}
	for _, p := range parts {
		if p.done == nil {
			continue
		}
		if err := p.done(); err != nil {
			return err
		}
	}
	return nil
}

// collect runs a query and scans every row with scan.
func collect[T any](tx *Tx, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// maxParams is how many parameters insertRows puts in one statement
// (about 90 jobs): far below SQLite's limit (32,766) and PostgreSQL's
// (65,535), since the SQLite driver looks each parameter's name up in a
// list, which costs the square of their number.
const maxParams = 2000

// insertRows inserts rows, each the values of cols in order, into table
// with as few INSERT statements as maxParams allows.
func (tx *Tx) insertRows(table, cols string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	width := len(rows[0])
	per := max(1, maxParams/width)
	for len(rows) > 0 {
		chunk := rows[:min(per, len(rows))]
		rows = rows[len(chunk):]
		var q strings.Builder
		args := make([]any, 0, len(chunk)*width)
		q.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
		for i, row := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('(')
			for k, v := range row {
				if k > 0 {
					q.WriteString(", ")
				}
				args = append(args, v)
				fmt.Fprintf(&q, "$%d", len(args))
			}
			q.WriteByte(')')
		}
		if _, err := tx.exec(q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}
