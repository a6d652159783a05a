package testreport

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/sizelimit"
	jsonv2 "github.com/go-json-experiment/json"
)

// The hand-over of a report from a job to the server is its JSON,
// gzipped once by the job (Compress): the job service and the agent pass
// the bytes on untouched, and the server (Receive) decodes and checks
// them and, when they are already what it would store, stores them as
// they came instead of encoding and compressing the report again.

// Compress encodes r, which must be merged (Merge), as gzipped JSON: the
// hand-over format that Receive reads and the server stores.
func Compress(r Result) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Received is a report as the server received it.
type Received struct {
	// Result is the report, normalised and merged.
	Result Result
	// Gzip, when not nil, is the report exactly as received: gzipped
	// JSON that decodes to Result as it is (nothing was normalised or
	// merged), which can be stored without encoding it again.
	Gzip []byte
}

// Receive reads a report handed over as gzipped JSON (Compress), or as
// plain JSON (what older jobs send), and checks it: at most MaxReport
// bytes, compressed and not; strict JSON (valid UTF-8, no unknown or
// repeated member, nothing after the report); the states and statuses
// known. What it refuses is a *DecodeError. The counts, ids and order of
// the report are made again when they are not what its tests say
// (Normalize, Merge), in which case Gzip is nil.
func Receive(r io.Reader) (Received, error) { return receive(r, MaxReport) }

func receive(r io.Reader, limit int) (Received, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		res, err := Decode(br)
		return Received{Result: res}, err
	}
	zipped, err := io.ReadAll(io.LimitReader(br, int64(limit)+1))
	if err != nil {
		return Received{}, fmt.Errorf("read the report: %w", err)
	}
	if len(zipped) > limit {
		return Received{}, &DecodeError{fmt.Errorf("larger than %d MiB", limit>>20)}
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		return Received{}, &DecodeError{err}
	}
	var res Result
	// The report is decoded as it is uncompressed, never whole in memory.
	// The strict decoder refuses what encoding/json would read
	// differently (invalid UTF-8, repeated members, names in another
	// case), so that the bytes stored as received read back, with
	// encoding/json, as the report checked here.
	unzipped := sizelimit.New(zr, int64(limit), errors.New("too large"))
	err = jsonv2.UnmarshalRead(unzipped, &res, jsonv2.RejectUnknownMembers(true), jsonv2.WithUnmarshalers(durationNanos))
	if unzipped.Over() {
		return Received{}, &DecodeError{fmt.Errorf("larger than %d MiB uncompressed", limit>>20)}
	}
	if err != nil {
		return Received{}, &DecodeError{errors.New(strings.TrimPrefix(err.Error(), "json: "))}
	}
	changed, err := res.normalize()
	if err != nil {
		return Received{}, &DecodeError{err}
	}
	if changed || !merged(&res) {
		return Received{Result: Merge(res)}, nil
	}
	return Received{Result: res, Gzip: zipped}, nil
}

// durationNanos reads a time.Duration as encoding/json writes it: a
// number of nanoseconds.
var durationNanos = jsonv2.UnmarshalFunc(func(data []byte, d *time.Duration) error {
	if string(data) == "null" {
		return nil
	}
	n, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return fmt.Errorf("a duration is a whole number of nanoseconds, not %.20s", data)
	}
	*d = time.Duration(n)
	return nil
})

// merged reports whether r is as Merge leaves it: reports, suites and
// tests in strictly increasing order of id (so no id twice).
func merged(r *Result) bool {
	for i := range r.TestResults {
		tr := &r.TestResults[i]
		if i > 0 && r.TestResults[i-1].ID >= tr.ID {
			return false
		}
		for j := range tr.Suites {
			s := &tr.Suites[j]
			if j > 0 && tr.Suites[j-1].ID >= s.ID {
				return false
			}
			for k := range s.Tests {
				if k > 0 && s.Tests[k-1].ID >= s.Tests[k].ID {
					return false
				}
			}
		}
	}
	return true
}
