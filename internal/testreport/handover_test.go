package testreport

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

// TestReceiveStoresWhatAJobSends: what a job publishes (every sample
// parsed and merged, then Compress) is received as it was sent, storable
// as it is, and reads back (as stored reports are read) as the report.
func TestReceiveStoresWhatAJobSends(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.xml")
	var all []Result
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Parse(filepath.Base(f), data, Options{TrimOutput: 1000})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	for i, r := range append(all, Merge(all...)) {
		sent, err := Compress(Merge(r))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Receive(bytes.NewReader(sent))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Gzip, sent) {
			t.Errorf("report %d: not storable as sent", i)
		}
		if diff := cmp.Diff(Merge(r), got.Result); diff != "" {
			t.Errorf("report %d (-sent +received):\n%s", i, diff)
		}
		zr, err := gzip.NewReader(bytes.NewReader(got.Gzip))
		if err != nil {
			t.Fatal(err)
		}
		var stored Result
		if err := json.NewDecoder(zr).Decode(&stored); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got.Result, stored); diff != "" {
			t.Errorf("report %d read back (-received +stored):\n%s", i, diff)
		}
	}
}

// TestReceiveRecountsWhatIsNotTrue: a report whose counts, ids or order
// are not what its tests say is received normalised and merged, and not
// storable as sent.
func TestReceiveRecountsWhatIsNotTrue(t *testing.T) {
	good := `{"testResults":[{"id":"%s","name":"unit","framework":"generic","status":"success","suites":[{"name":"s","tests":[{"name":"a","state":"failed"},{"name":"b","state":"passed"}]}]}]}`
	for name, body := range map[string]string{
		"lying counts": `{"testResults":[{"name":"unit","summary":{"total":99,"passed":99},"suites":[]}]}`,
		"no ids":       good,
		"twice":        `{"testResults":[{"name":"u","suites":[{"name":"s","tests":[{"name":"a","state":"passed"},{"name":"a","state":"failed"}]}]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Receive(bytes.NewReader(gzipped(t, body)))
			if err != nil {
				t.Fatal(err)
			}
			if got.Gzip != nil {
				t.Errorf("stored as sent: %s", body)
			}
			want, err := Decode(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(Merge(want), got.Result); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// Plain JSON, as older jobs send, is read too, and never stored as sent.
	got, err := Receive(strings.NewReader(`{"testResults":[{"name":"unit","suites":[{"name":"s","tests":[{"name":"a"}]}]}]}`))
	if err != nil || got.Gzip != nil || got.Result.Summary().Passed != 1 {
		t.Errorf("plain JSON: %+v, %v", got, err)
	}
}

// TestReceiveRefuses: what is not a report, or is too large, is refused
// with a *DecodeError that says why.
func TestReceiveRefuses(t *testing.T) {
	ok := `{"testResults":[]}`
	for name, tc := range map[string]struct {
		body []byte
		want string
	}{
		"not gzip":         {append([]byte{0x1f, 0x8b}, "garbage"...), "unexpected EOF"},
		"truncated":        {gzipped(t, ok)[:12], "EOF"},
		"after the report": {append(gzipped(t, ok), "junk"...), "unexpected EOF"},
		"two reports":      {gzipped(t, ok+ok), "invalid character"},
		"unknown member":   {gzipped(t, `{"testResults":[],"x":1}`), `unknown object member name "x"`},
		"another case":     {gzipped(t, `{"TestResults":[]}`), `unknown object member name "TestResults"`},
		"repeated member":  {gzipped(t, `{"testResults":[],"testResults":[]}`), "duplicate object member"},
		"invalid UTF-8":    {gzipped(t, "{\"testResults\":[{\"name\":\"\xff\"}]}"), "invalid UTF-8"},
		"unknown state":    {gzipped(t, `{"testResults":[{"suites":[{"tests":[{"name":"a","state":"weird"}]}]}]}`), `unknown state "weird"`},
		"bad duration":     {gzipped(t, `{"testResults":[{"suites":[{"tests":[{"duration":"1s"}]}]}]}`), "nanoseconds"},
		"too large":        {gzipped(t, `{"testResults":[{"name":"`+strings.Repeat("x", 1<<20)+`"}]}`), "larger than 1 MiB uncompressed"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := receive(bytes.NewReader(tc.body), 1<<20)
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want a *DecodeError with %q", err, tc.want)
			}
		})
	}
	// A report of the limit's size exactly is read.
	exact := `{"testResults":[{"name":"` + strings.Repeat("x", 1<<20) + `"}]}`
	exact = strings.Replace(exact, strings.Repeat("x", len(exact)-1<<20), "", 1)
	if _, err := receive(bytes.NewReader(gzipped(t, exact)), 1<<20); err != nil || len(exact) != 1<<20 {
		t.Errorf("a report of %d bytes, the limit: %v", len(exact), err)
	}
}
