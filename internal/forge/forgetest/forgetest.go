// Package forgetest is the contract every forge adapter passes, and a
// fake of the forges' commit status APIs that records what it is sent.
package forgetest

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/batonci/baton/internal/forge"
	"github.com/google/go-cmp/cmp"
)

// Fixture is one webhook delivery read from testdata and the event it
// must parse to.
type Fixture struct {
	// File is the payload, relative to the package's testdata directory.
	File string
	// Event is the forge's event header value.
	Event string
	// Want is the parsed event.
	Want forge.Event
}

// Suite describes one adapter to the contract.
type Suite struct {
	// New builds the adapter for a server at url with token "tok".
	New func(url string) forge.Forge
	// Sign sets the headers that authenticate body with secret.
	Sign func(h http.Header, secret string, body []byte)
	// EventHeader is the header naming the event.
	EventHeader string
	// SignsBody says the signature covers the body (GitLab's token does
	// not).
	SignsBody bool
	// Repo is a repository name as SetStatus takes it; StatusPath is
	// the request path it must post to for commit "abc123".
	Repo, StatusPath string
	// AuthHeader and AuthValue are how the token must be sent.
	AuthHeader, AuthValue string
	// StateField is the JSON field of the state; States maps Baton's
	// states to the forge's.
	StateField string
	States     map[forge.State]string
	Fixtures   []Fixture
}

// Run checks the adapter against the contract.
func Run(t *testing.T, s Suite) {
	t.Helper()
	f := s.New("http://unused.invalid")
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	t.Run("Verify", func(t *testing.T) {
		good := http.Header{}
		s.Sign(good, "sekrit", body)
		if !f.Verify("sekrit", good, body) {
			t.Error("a correctly signed delivery does not verify")
		}
		if f.Verify("other", good, body) {
			t.Error("a delivery signed with another secret verifies")
		}
		if f.Verify("", good, body) {
			t.Error("an empty secret verifies a delivery")
		}
		if f.Verify("sekrit", http.Header{}, body) {
			t.Error("an unsigned delivery verifies")
		}
		if s.SignsBody && f.Verify("sekrit", good, append([]byte(" "), body...)) {
			t.Error("a tampered body verifies")
		}
	})
	t.Run("ParseHook", func(t *testing.T) {
		for _, fx := range s.Fixtures {
			t.Run(fx.File, func(t *testing.T) {
				b, err := os.ReadFile(filepath.Join("testdata", fx.File))
				if err != nil {
					t.Fatal(err)
				}
				h := http.Header{}
				h.Set(s.EventHeader, fx.Event)
				got, err := f.ParseHook(h, b)
				if err != nil {
					t.Fatalf("ParseHook: %v", err)
				}
				if diff := cmp.Diff(&fx.Want, got); diff != "" {
					t.Errorf("ParseHook mismatch (-want +got):\n%s", diff)
				}
			})
		}
		h := http.Header{}
		h.Set(s.EventHeader, s.Fixtures[0].Event)
		if _, err := f.ParseHook(h, []byte("{not json")); !errors.Is(err, forge.ErrMalformed) {
			t.Errorf("ParseHook of a malformed body: %v, want ErrMalformed", err)
		}
		h.Set(s.EventHeader, "some_event_baton_ignores")
		if ev, err := f.ParseHook(h, body); err != nil || ev.Kind != forge.Ignored {
			t.Errorf("ParseHook of an unknown event = %+v, %v; want Ignored", ev, err)
		}
	})
	t.Run("SetStatus", func(t *testing.T) {
		fake := NewStatusServer(t)
		f := s.New(fake.URL())
		for _, st := range []forge.State{forge.Pending, forge.Success, forge.Failure, forge.Error} {
			err := f.SetStatus(t.Context(), s.Repo, "abc123", forge.Status{State: st, TargetURL: "http://baton/w/1", Description: "d", Context: "baton/ci"})
			if err != nil {
				t.Fatalf("SetStatus(%s): %v", st, err)
			}
		}
		calls := fake.Calls()
		if len(calls) != 4 {
			t.Fatalf("%d calls, want 4", len(calls))
		}
		for i, st := range []forge.State{forge.Pending, forge.Success, forge.Failure, forge.Error} {
			c := calls[i]
			if c.Path != s.StatusPath {
				t.Errorf("posted to %q, want %q", c.Path, s.StatusPath)
			}
			if got := c.Header.Get(s.AuthHeader); got != s.AuthValue {
				t.Errorf("%s = %q, want %q", s.AuthHeader, got, s.AuthValue)
			}
			if got := c.Body[s.StateField]; got != s.States[st] {
				t.Errorf("state %s sent as %q, want %q", st, got, s.States[st])
			}
			if c.Body["target_url"] != "http://baton/w/1" {
				t.Errorf("target_url = %q", c.Body["target_url"])
			}
		}
		fake.Fail(http.StatusServiceUnavailable, 1)
		err := f.SetStatus(t.Context(), s.Repo, "abc123", forge.Status{State: forge.Pending})
		var se *forge.StatusError
		if !errors.As(err, &se) || !se.Temporary() {
			t.Errorf("SetStatus against a failing API: %v, want a temporary *forge.StatusError", err)
		}
	})
}

// Call is one request the status fake received.
type Call struct {
	Path   string
	Header http.Header
	Body   map[string]string
}

// StatusServer fakes the status APIs of every forge: it answers 201 to
// any POST and records it.
type StatusServer struct {
	srv *httptest.Server

	mu    sync.Mutex
	calls []Call
	fail  int // answer failCode to this many more requests
	code  int
}

// NewStatusServer starts a fake, closed when the test ends.
func NewStatusServer(tb testing.TB) *StatusServer {
	s := &StatusServer{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.srv.Close)
	return s
}

// URL is the fake's base URL.
func (s *StatusServer) URL() string { return s.srv.URL }

// Fail makes the next n requests fail with code (they are not recorded).
func (s *StatusServer) Fail(code, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.code, s.fail = code, n
}

// Calls returns the requests recorded so far.
func (s *StatusServer) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func (s *StatusServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		http.Error(w, `{"message":"try later"}`, s.code)
		return
	}
	var body map[string]string
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&body) != nil {
		http.Error(w, `{"message":"bad request"}`, http.StatusBadRequest)
		return
	}
	p := r.URL.EscapedPath()
	s.calls = append(s.calls, Call{Path: p, Header: r.Header.Clone(), Body: body})
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(`{}`))
}

// Fuzz fuzzes an adapter's ParseHook with the package's testdata payloads
// as seeds, under each event name: it must never panic, and a
// pull request event it accepts must have a number and a head commit.
func Fuzz(f *testing.F, fg forge.Forge, header string, events []string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for i := range events {
			f.Add(uint8(i), b)
		}
	}
	f.Fuzz(func(t *testing.T, ev uint8, body []byte) {
		h := http.Header{}
		h.Set(header, events[int(ev)%len(events)])
		got, err := fg.ParseHook(h, body)
		if err != nil {
			if !errors.Is(err, forge.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if got.Kind == forge.PullRequest && (got.PR == nil || got.PR.Number <= 0 || got.PR.HeadSHA == "") {
			t.Fatalf("accepted a pull request without number or head: %+v", got)
		}
	})
}
