package api

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/logstore"
)

const (
	// searchBudget bounds the lines one search request scans, so a
	// search of a huge log is a series of short requests.
	searchBudget = 250_000
	// searchPage is how many lines a search renders at a time.
	searchPage = 25_000
	// maxRange bounds a ?from&to or ?tail request.
	maxRange = 100_000
)

// jobLog serves a job's log:
//   - ?tail=N: the last N lines (default 1000) as JSON;
//   - ?from=A&to=B: lines [A, B) as JSON;
//   - ?format=lines with tail or from/to: the same range as LogLines;
//   - ?q=text[&from=A][&limit=N]: line numbers of lines containing text
//     (case-insensitive, ANSI escapes ignored), as LogMatches, paged;
//   - ?format=text: the whole log as plain text (a download);
//   - ?format=events: the raw events as JSON lines;
//   - ?follow=1: Server-Sent Events (at most MaxLiveStreams at once per
//     client address; 429 beyond), one "log" message per log event
//     from ?seq=N on, ending with an "end" message when the log is
//     complete; with &format=lines&from=A instead "lines" messages (a
//     LogLines from line A on; the last line may be sent again as it
//     grows) and "commands" messages (the commands, when they change).
//
// Responses but the event streams are gzipped for clients that accept it.
func (a *API) jobLog(w http.ResponseWriter, r *http.Request, c *caller) error {
	j, err := a.job(r, c)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ctx := r.Context()
	logs := a.cfg.Logs
	if q.Get("follow") != "" {
		release, err := a.streams.acquire(clientIP(r))
		if err != nil {
			return err
		}
		defer release()
	}
	switch {
	case q.Get("follow") != "" && q.Get("format") == "lines":
		return a.followLines(w, r, j.ID)
	case q.Get("follow") != "":
		return a.followLog(w, r, j.ID)
	case q.Has("q"):
		return a.searchLog(w, r, j.ID)
	case q.Get("format") == "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", "job-"+j.ID+".log"))
		out, done := Compress(w, r)
		defer done()
		bw := bufio.NewWriterSize(out, 64<<10)
		// Big pages: each page decompresses the chunks it spans once.
		const page = 100000
		for from := 0; ; from += page {
			lines, total, err := logs.Lines(ctx, j.ID, from, from+page)
			if err != nil {
				return nil
			}
			for _, l := range lines {
				bw.WriteString(l.Text)
				bw.WriteByte('\n')
			}
			if from+page >= total {
				break
			}
		}
		bw.Flush()
		return nil
	case q.Get("format") == "events":
		w.Header().Set("Content-Type", "application/x-ndjson")
		info, err := logs.Info(j.ID)
		if err != nil {
			return writeJSON(w, http.StatusOK, []any{})
		}
		out, done := Compress(w, r)
		defer done()
		enc := json.NewEncoder(out)
		for seq := 0; seq < info.Chunks; seq += 16 {
			evs, err := logs.Events(ctx, j.ID, seq, min(seq+16, info.Chunks))
			if err != nil {
				return nil
			}
			for _, ev := range evs {
				enc.Encode(ev)
			}
		}
		return nil
	}
	var lines []logstore.Line
	var total, from int
	if q.Has("from") {
		from, err = strconv.Atoi(q.Get("from"))
		to := -1
		if err == nil && q.Has("to") {
			to, err = strconv.Atoi(q.Get("to"))
		}
		if err != nil || from < 0 || to < -1 {
			return fmt.Errorf("%w: from and to must be line numbers", errBadRequest)
		}
		if to == -1 || to-from > maxRange {
			to = from + maxRange
		}
		lines, total, err = logs.Lines(ctx, j.ID, from, to)
	} else {
		n := 1000
		if q.Has("tail") {
			n, err = strconv.Atoi(q.Get("tail"))
			if err != nil || n < 0 {
				return fmt.Errorf("%w: tail must be a number of lines", errBadRequest)
			}
		}
		lines, total, err = logs.Tail(ctx, j.ID, min(n, maxRange))
		from = total - len(lines)
	}
	if err != nil {
		// No log yet: the job has not started.
		lines, total, from = nil, 0, 0
	}
	info, _ := logs.Info(j.ID)
	if q.Get("format") == "lines" {
		return writeCompact(w, r, compactLines(lines, from, total, info.Sealed))
	}
	return writeJSON(w, http.StatusOK, apiv1.LogView{Lines: each(lines, logLineView), Total: total, From: from, Sealed: info.Sealed})
}

// compactLines turns lines (numbered from from) into a LogLines.
func compactLines(lines []logstore.Line, from, total int, complete bool) apiv1.LogLines {
	v := apiv1.LogLines{From: from, Total: total, Complete: complete, Text: make([]string, len(lines)), At: make([]int64, len(lines))}
	var prev int64
	for i, l := range lines {
		ms := l.At.Time().UnixMilli()
		if i == 0 {
			v.T0, prev = ms, ms
		}
		v.Text[i], v.At[i] = l.Text, ms-prev
		prev = ms
	}
	return v
}

// searchLog answers ?q=text: the numbers of the lines from ?from on that
// contain text, at most ?limit (default 1000) of them, scanning at most
// searchBudget lines per request.
func (a *API) searchLog(w http.ResponseWriter, r *http.Request, jobID string) error {
	q := r.URL.Query()
	needle := strings.ToLower(q.Get("q"))
	from, limit := 0, 1000
	var err error
	if q.Has("from") {
		if from, err = strconv.Atoi(q.Get("from")); err != nil || from < 0 {
			return fmt.Errorf("%w: from must be a line number", errBadRequest)
		}
	}
	if q.Has("limit") {
		if limit, err = strconv.Atoi(q.Get("limit")); err != nil || limit < 1 || limit > 10000 {
			return fmt.Errorf("%w: limit must be a number from 1 to 10000", errBadRequest)
		}
	}
	res := apiv1.LogMatches{Query: q.Get("q"), Matches: []int{}, Next: -1}
	if needle == "" {
		return writeCompact(w, r, res)
	}
	var buf []byte
	for scanned := 0; ; {
		lines, total, err := a.cfg.Logs.Lines(r.Context(), jobID, from, from+searchPage)
		if err != nil {
			break // no log yet, or the request ended
		}
		res.Total = total
		for _, l := range lines {
			buf = plainLower(buf[:0], l.Text)
			if bytes.Contains(buf, []byte(needle)) {
				res.Matches = append(res.Matches, l.N)
				if len(res.Matches) == limit {
					if l.N+1 < total {
						res.Next = l.N + 1
					}
					return writeCompact(w, r, res)
				}
			}
		}
		from += len(lines)
		scanned += len(lines)
		if len(lines) == 0 || from >= total {
			break
		}
		if scanned >= searchBudget {
			res.Next = from
			break
		}
	}
	return writeCompact(w, r, res)
}

// plainLower appends s to buf without ANSI escape sequences (CSI and OSC)
// and with ASCII letters lowered.
func plainLower(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == 0x1b && i+1 < len(s) {
			switch s[i+1] {
			case '[': // CSI: parameters, then a final byte in 0x40–0x7e
				j := i + 2
				for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
					j++
				}
				i = j
				continue
			case ']': // OSC: up to BEL or ESC \
				j := i + 2
				for j < len(s) && s[j] != 0x07 && !(s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\') {
					j++
				}
				if j < len(s) && s[j] == 0x1b {
					j++
				}
				i = j
				continue
			}
		}
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf = append(buf, ch)
	}
	return buf
}

// followLog streams events as Server-Sent Events.
func (a *API) followLog(w http.ResponseWriter, r *http.Request, jobID string) error {
	seq := 0
	if s := r.URL.Query().Get("seq"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: seq must be a chunk number", errBadRequest)
		}
		seq = n
	}
	ch, err := a.cfg.Logs.Follow(r.Context(), jobID, seq)
	if err != nil {
		return err
	}
	flusher, _ := w.(http.Flusher)
	startEvents(w, flusher)
	for chunk := range ch {
		for _, ev := range chunk.Events {
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %d\nevent: log\ndata: %s\n\n", chunk.Seq, b)
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	fmt.Fprint(w, "event: end\ndata: {}\n\n")
	if flusher != nil {
		flusher.Flush()
	}
	return nil
}

// followLines streams the rendered lines of a log from ?from on (or the
// Last-Event-ID a reconnecting EventSource sends) as they are appended.
// Each "lines" message is a LogLines from the first line that may have
// changed; its id is that line, so a reconnect resumes there. A
// "commands" message carries the commands whenever they change, and
// "end" closes the stream once the log is complete.
func (a *API) followLines(w http.ResponseWriter, r *http.Request, jobID string) error {
	from := 0
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = r.URL.Query().Get("from")
	}
	if s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: from must be a line number", errBadRequest)
		}
		from = n
	}
	logs := a.cfg.Logs
	ctx := r.Context()
	// Follow only chunks appended from now on: the lines already stored
	// are read once below, not replayed chunk by chunk.
	seq := 0
	if info, err := logs.Info(jobID); err == nil {
		seq = info.Chunks
	}
	ch, err := logs.Follow(ctx, jobID, seq)
	if err != nil {
		return err
	}
	flusher, _ := w.(http.Flusher)
	startEvents(w, flusher)
	var lastCmds []byte
	send := func() {
		lines, total, err := logs.Lines(ctx, jobID, from, from+maxRange)
		if err != nil {
			return // no log yet
		}
		if len(lines) > 0 {
			info, _ := logs.Info(jobID)
			b, _ := json.Marshal(compactLines(lines, from, total, info.Sealed))
			fmt.Fprintf(w, "id: %d\nevent: lines\ndata: %s\n\n", from, b)
			// The last line may still grow: send it again next time.
			from = lines[len(lines)-1].N
			if from+1 < total {
				from++ // more than maxRange new lines: continue after
			}
		}
		if cmds, err := logs.Commands(ctx, jobID); err == nil {
			if b, _ := json.Marshal(cmds); !bytes.Equal(b, lastCmds) {
				fmt.Fprintf(w, "event: commands\ndata: %s\n\n", b)
				lastCmds = b
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	send()
	for {
		_, ok := <-ch
		// Take the chunks that are already there, then render once.
	drain:
		for ok {
			select {
			case _, ok = <-ch:
			default:
				break drain
			}
		}
		send()
		if !ok {
			break
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if info, err := logs.Info(jobID); err == nil && info.Sealed {
		// Lines beyond maxRange behind the last message, if any.
		for total := info.Lines; from+1 < total; {
			prev := from
			send()
			if from == prev {
				break
			}
		}
	}
	fmt.Fprint(w, "event: end\ndata: {}\n\n")
	if flusher != nil {
		flusher.Flush()
	}
	return nil
}

// startEvents writes the headers of a Server-Sent Events stream.
func startEvents(w http.ResponseWriter, flusher http.Flusher) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
}

func (a *API) jobCommands(w http.ResponseWriter, r *http.Request, c *caller) error {
	j, err := a.job(r, c)
	if err != nil {
		return err
	}
	cmds, err := a.cfg.Logs.Commands(r.Context(), j.ID)
	if err != nil {
		cmds = nil
	}
	return writeJSON(w, http.StatusOK, each(cmds, commandView))
}

// acceptsGzip reports whether the client takes gzip-encoded responses.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// Compress returns the writer of a response body, gzipped when the client
// accepts it; done finishes the body.
func Compress(w http.ResponseWriter, r *http.Request) (out io.Writer, done func()) {
	w.Header().Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r) {
		return w, func() {}
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Del("Content-Length")
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	return gz, func() { gz.Close() }
}

// writeCompact writes v as unindented JSON, gzipped for clients that
// accept it when it is worth it.
func writeCompact(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode log: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if len(b) < 1024 {
		w.Write(b)
		return nil
	}
	out, done := Compress(w, r)
	defer done()
	out.Write(b)
	return nil
}
