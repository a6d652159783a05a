package api_test

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/testenv"
)

const logPipeline = `version: v1.0
name: Logs
agent:
  machine:
    type: nobody-runs-this
blocks:
  - name: Build
    task:
      jobs:
        - name: Compile
          commands:
            - echo hi
`

// pendingJob starts a server without agents and returns it with the ID of
// a queued job, whose log the test then writes into the server's log
// store as an agent would.
func pendingJob(t *testing.T) (*testenv.Env, string) {
	t.Helper()
	e := testenv.Start(t, testenv.Options{})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": logPipeline})
	e.Do("POST", "/api/v1/projects", map[string]any{"name": "logs", "repo_url": repo.URL(), "default_branch": "main"}, nil, http.StatusCreated)
	var wf ci.Workflow
	e.Do("POST", "/api/v1/projects/logs/workflows", map[string]any{"branch": "main"}, &wf, http.StatusCreated)
	var jobID string
	e.Eventually(10*time.Second, func() bool {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, &w)
		for _, j := range w.Jobs() {
			jobID = j.ID
		}
		return jobID != ""
	}, "the workflow's job exists")
	return e, jobID
}

var t0 = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

func ts(ms int) ci.Timestamp { return ci.Timestamp(t0.Add(time.Duration(ms) * time.Millisecond)) }

// writeLog appends a two-command log: "make" prints n lines and fails.
func writeLog(t *testing.T, e *testenv.Env, jobID string, n int) {
	t.Helper()
	zero, two := 0, 2
	var out strings.Builder
	for i := range n {
		fmt.Fprintf(&out, "line %d \x1b[31mRED\x1b[0m\n", i)
	}
	chunks := []logstore.Chunk{
		{Seq: 0, Events: []ci.Event{
			{Kind: ci.EventJobStarted, Timestamp: ts(0)},
			{Kind: ci.EventCmdStarted, Timestamp: ts(10), Directive: "echo start"},
			{Kind: ci.EventCmdOutput, Timestamp: ts(20), Output: "start\n"},
			{Kind: ci.EventCmdFinished, Timestamp: ts(30), Directive: "echo start", ExitCode: &zero},
		}},
		{Seq: 1, Events: []ci.Event{
			{Kind: ci.EventCmdStarted, Timestamp: ts(40), Directive: "make"},
			{Kind: ci.EventCmdOutput, Timestamp: ts(1040), Output: out.String()},
			{Kind: ci.EventCmdFinished, Timestamp: ts(2000), Directive: "make", ExitCode: &two},
		}},
	}
	for _, c := range chunks {
		if err := e.Server.Logs.Append(t.Context(), jobID, c); err != nil {
			t.Fatal(err)
		}
	}
}

func get(t *testing.T, e *testenv.Env, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.URL+path, nil)
	req.Header.Set("Authorization", "Token "+e.Token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// A bare transport: no transparent gzip, so the test sees the encoding.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestLogLinesFormat(t *testing.T) {
	t.Parallel()
	e, jobID := pendingJob(t)
	writeLog(t, e, jobID, 5)
	_, body := get(t, e, "/api/v1/jobs/"+jobID+"/log?format=lines&from=0&to=4", nil)
	var got apiv1.LogLines
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	want := apiv1.LogLines{From: 0, Total: 8, T0: t0.Add(10 * time.Millisecond).UnixMilli(),
		Text: []string{"$ echo start", "start", "$ make", "line 0 \x1b[31mRED\x1b[0m"},
		At:   []int64{0, 10, 20, 1000}}
	if !slices.Equal(got.Text, want.Text) || !slices.Equal(got.At, want.At) || got.T0 != want.T0 || got.Total != want.Total || got.From != 0 {
		t.Errorf("lines = %+v, want %+v", got, want)
	}
	_, body = get(t, e, "/api/v1/jobs/"+jobID+"/log?format=lines&tail=2", nil)
	got = apiv1.LogLines{}
	json.Unmarshal(body, &got)
	if got.From != 6 || !slices.Equal(got.Text, []string{"line 3 \x1b[31mRED\x1b[0m", "line 4 \x1b[31mRED\x1b[0m"}) {
		t.Errorf("tail 2 = %+v, want lines 6 and 7", got)
	}
	var cmds []logstore.Command
	e.Do("GET", "/api/v1/jobs/"+jobID+"/commands", nil, &cmds)
	if len(cmds) != 2 || cmds[1].FirstLine != 2 || cmds[1].LastLine != 7 || *cmds[1].ExitCode != 2 {
		t.Errorf("commands = %+v, want make on lines 2–7 exiting 2", cmds)
	}
}

func TestLogSearch(t *testing.T) {
	t.Parallel()
	e, jobID := pendingJob(t)
	// One request scans at most 250,000 lines: only "a page, then next"
	// scans that many (a few seconds under -race).
	writeLog(t, e, jobID, 255_000)
	tests := []struct {
		name  string
		query string
		want  apiv1.LogMatches
	}{
		{"ansi escapes are ignored", "q=" + "0%20red&limit=3", apiv1.LogMatches{Matches: []int{3, 13, 23}, Next: 24}},
		{"case-insensitive, continues from", "q=LINE%20254999&from=250000", apiv1.LogMatches{Matches: []int{255_002}, Next: -1}},
		{"a page, then next", "q=nothing-matches", apiv1.LogMatches{Matches: []int{}, Next: 250_000}},
		{"last page", "q=nothing-matches&from=250000", apiv1.LogMatches{Matches: []int{}, Next: -1}},
		{"escape codes are not text", "q=%5B31m&from=250000", apiv1.LogMatches{Matches: []int{}, Next: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, e, "/api/v1/jobs/"+jobID+"/log?"+tt.query, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var got apiv1.LogMatches
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Matches, tt.want.Matches) || got.Next != tt.want.Next || got.Total != 255_003 {
				t.Errorf("got %+v, want %+v (total 255003)", got, tt.want)
			}
		})
	}
}

func TestLogGzip(t *testing.T) {
	t.Parallel()
	e, jobID := pendingJob(t)
	writeLog(t, e, jobID, 10_000)
	for _, path := range []string{"?format=text", "?format=lines&tail=5000"} {
		resp, plain := get(t, e, "/api/v1/jobs/"+jobID+"/log"+path, nil)
		if enc := resp.Header.Get("Content-Encoding"); enc != "" {
			t.Errorf("%s without Accept-Encoding: Content-Encoding %q", path, enc)
		}
		resp, zipped := get(t, e, "/api/v1/jobs/"+jobID+"/log"+path, map[string]string{"Accept-Encoding": "gzip, br"})
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: Content-Encoding %q, want gzip", path, resp.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(strings.NewReader(string(zipped)))
		if err != nil {
			t.Fatal(err)
		}
		unzipped, _ := io.ReadAll(zr)
		if string(unzipped) != string(plain) {
			t.Errorf("%s: gzipped body differs from the plain one", path)
		}
		if len(zipped)*4 > len(plain) {
			t.Errorf("%s: gzipped %d bytes, plain %d: want at least 4x smaller", path, len(zipped), len(plain))
		}
	}
}

// TestFollowLines follows a log as an agent writes it: lines arrive as
// they are appended, a line completed by a later chunk is sent again,
// commands are sent when they change, and the stream ends after sealing.
func TestFollowLines(t *testing.T) {
	t.Parallel()
	e, jobID := pendingJob(t)
	logs := e.Server.Logs
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.URL+"/api/v1/jobs/"+jobID+"/log?follow=1&format=lines&from=0", nil)
	req.Header.Set("Authorization", "Token "+e.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	type msg struct{ id, event, data string }
	msgs := make(chan msg, 100)
	go func() {
		defer close(msgs)
		sc := bufio.NewScanner(resp.Body)
		var m msg
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				msgs <- m
				m = msg{}
			case strings.HasPrefix(line, "id: "):
				m.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				m.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				m.data = line[6:]
			}
		}
	}()
	next := func(event string) msg {
		t.Helper()
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("stream ended, waiting for %q", event)
				}
				if m.event == event {
					return m
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %q message", event)
			}
		}
	}
	appendChunk := func(seq int, evs ...ci.Event) {
		t.Helper()
		if err := logs.Append(t.Context(), jobID, logstore.Chunk{Seq: seq, Events: evs}); err != nil {
			t.Fatal(err)
		}
	}
	appendChunk(0, ci.Event{Kind: ci.EventCmdStarted, Timestamp: ts(0), Directive: "build"},
		ci.Event{Kind: ci.EventCmdOutput, Timestamp: ts(5), Output: "one\ntw"})
	var lines apiv1.LogLines
	m := next("lines")
	json.Unmarshal([]byte(m.data), &lines)
	if m.id != "0" || lines.From != 0 || !slices.Equal(lines.Text, []string{"$ build", "one", "tw"}) {
		t.Fatalf("first lines: id %s %+v", m.id, lines)
	}
	var cmds []logstore.Command
	json.Unmarshal([]byte(next("commands").data), &cmds)
	if len(cmds) != 1 || cmds[0].ExitCode != nil {
		t.Fatalf("commands = %+v, want one running", cmds)
	}
	one := 1
	appendChunk(1, ci.Event{Kind: ci.EventCmdOutput, Timestamp: ts(300), Output: "o\nthree\n"},
		ci.Event{Kind: ci.EventCmdFinished, Timestamp: ts(310), Directive: "build", ExitCode: &one})
	// The stream may say again what it said (the incomplete line 2, "tw")
	// when it wakes before the chunk is in; it never says anything else
	// before the completed line.
	for {
		m = next("lines")
		lines = apiv1.LogLines{}
		json.Unmarshal([]byte(m.data), &lines)
		if m.id == "2" && lines.From == 2 && slices.Equal(lines.Text, []string{"tw"}) && lines.Total == 3 {
			continue
		}
		break
	}
	if m.id != "2" || lines.From != 2 || !slices.Equal(lines.Text, []string{"two", "three"}) || lines.Total != 4 {
		t.Fatalf("second lines: id %s %+v, want line 2 again, completed", m.id, lines)
	}
	cmds = nil
	json.Unmarshal([]byte(next("commands").data), &cmds)
	if len(cmds) != 1 || cmds[0].ExitCode == nil || *cmds[0].ExitCode != 1 {
		t.Fatalf("commands = %+v, want build exited 1", cmds)
	}
	if err := logs.Seal(jobID); err != nil {
		t.Fatal(err)
	}
	next("end")
}
