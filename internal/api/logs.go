package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/batonci/baton/internal/logstore"
)

// LogView is a range of a job's plain-text log.
type LogView struct {
	Lines []logstore.Line `json:"lines"`
	// Total is the number of lines so far; From is the first line returned.
	Total  int  `json:"total"`
	From   int  `json:"from"`
	Sealed bool `json:"complete"`
}

// jobLog serves a job's log:
//   - ?tail=N: the last N lines (default 1000) as JSON;
//   - ?from=A&to=B: lines [A, B) as JSON;
//   - ?format=text: the whole log as plain text (a download);
//   - ?format=events: the raw events as JSON lines;
//   - ?follow=1: Server-Sent Events, one "event" message per log event
//     from ?seq=N on, ending when the log is complete.
func (a *API) jobLog(w http.ResponseWriter, r *http.Request, c *caller) {
	j, err := a.job(r, c)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	ctx := r.Context()
	logs := a.cfg.Logs
	switch {
	case q.Get("follow") != "":
		a.followLog(w, r, j.ID)
		return
	case q.Get("format") == "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", "job-"+j.ID+".log"))
		bw := bufio.NewWriterSize(w, 64<<10)
		// Big pages: each page decompresses the chunks it spans once.
		const page = 100000
		for from := 0; ; from += page {
			lines, total, err := logs.Lines(ctx, j.ID, from, from+page)
			if err != nil {
				return
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
		return
	case q.Get("format") == "events":
		w.Header().Set("Content-Type", "application/x-ndjson")
		info, err := logs.Info(j.ID)
		if err != nil {
			writeJSON(w, http.StatusOK, []any{})
			return
		}
		enc := json.NewEncoder(w)
		for seq := 0; seq < info.Chunks; seq += 16 {
			evs, err := logs.Events(ctx, j.ID, seq, min(seq+16, info.Chunks))
			if err != nil {
				return
			}
			for _, ev := range evs {
				enc.Encode(ev)
			}
		}
		return
	}
	var lines []logstore.Line
	var total, from int
	if q.Has("from") {
		from, err = strconv.Atoi(q.Get("from"))
		to := -1
		if err == nil && q.Has("to") {
			to, err = strconv.Atoi(q.Get("to"))
		}
		if err != nil || from < 0 {
			writeError(w, fmt.Errorf("%w: from and to must be line numbers", errBadRequest))
			return
		}
		lines, total, err = logs.Lines(ctx, j.ID, from, to)
	} else {
		n := 1000
		if q.Has("tail") {
			n, err = strconv.Atoi(q.Get("tail"))
			if err != nil || n < 0 {
				writeError(w, fmt.Errorf("%w: tail must be a number of lines", errBadRequest))
				return
			}
		}
		lines, total, err = logs.Tail(ctx, j.ID, n)
		from = total - len(lines)
	}
	if err != nil {
		// No log yet: the job has not started.
		writeJSON(w, http.StatusOK, LogView{Lines: []logstore.Line{}})
		return
	}
	info, _ := logs.Info(j.ID)
	if lines == nil {
		lines = []logstore.Line{}
	}
	writeJSON(w, http.StatusOK, LogView{Lines: lines, Total: total, From: from, Sealed: info.Sealed})
}

// followLog streams events as Server-Sent Events.
func (a *API) followLog(w http.ResponseWriter, r *http.Request, jobID string) {
	seq := 0
	if s := r.URL.Query().Get("seq"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, fmt.Errorf("%w: seq must be a chunk number", errBadRequest))
			return
		}
		seq = n
	}
	ch, err := a.cfg.Logs.Follow(r.Context(), jobID, seq)
	if err != nil {
		writeError(w, err)
		return
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
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
}

func (a *API) jobCommands(w http.ResponseWriter, r *http.Request, c *caller) {
	j, err := a.job(r, c)
	if err != nil {
		writeError(w, err)
		return
	}
	cmds, err := a.cfg.Logs.Commands(r.Context(), j.ID)
	if err != nil || cmds == nil {
		cmds = []logstore.Command{}
	}
	writeJSON(w, http.StatusOK, cmds)
}
