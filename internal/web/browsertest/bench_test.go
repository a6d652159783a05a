package browsertest

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// The UI benchmarks. Run them with
//
//	go test -run '^$' -bench . -benchtime 5x ./internal/web/browsertest/
//
// Each compares with a baseline measured in the same run: the raw log
// download for the 1,000,000-line page, a Go SSE client for the live
// latency.

// tailPaintProbe runs in every new document before its scripts: it stamps
// window.__tailPaint with performance.now() (milliseconds since the
// navigation started) at the first animation frame in which the log's
// last line, "the end", lies inside the log's viewport.
const tailPaintProbe = `(() => {
  const check = () => {
    const view = document.getElementById('log-view');
    if (view && !view.hidden) {
      const v = view.getBoundingClientRect();
      for (const t of view.querySelectorAll('.row .tx')) {
        if (t.textContent !== 'the end') continue;
        const a = t.parentElement.getBoundingClientRect();
        if (a.top >= v.top - 1 && a.bottom <= v.bottom + 1) { window.__tailPaint = performance.now(); return; }
      }
    }
    requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})()`

// memSampler records the largest heap and Sys of this process (server,
// agent and test) while it runs.
type memSampler struct {
	stop             chan struct{}
	done             chan struct{}
	peakHeap, peakSy uint64
}

func sampleMemory() *memSampler {
	s := &memSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			s.peakHeap = max(s.peakHeap, m.HeapInuse)
			s.peakSy = max(s.peakSy, m.Sys)
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *memSampler) end() (heap, sys uint64) {
	close(s.stop)
	<-s.done
	return s.peakHeap, s.peakSy
}

func settledHeap() (heap, sys uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.Sys
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s)-1)*p + 0.5)
	return s[i]
}

// BenchmarkJobPageMillionLines opens the page of a failed job whose log
// has 1,000,000 lines, with the browser's cache off: the time from the
// navigation's start to the last line painted in view, the bytes the
// browser received (headers and bodies, as on the wire), and the growth of
// the server's heap while it served the page. Baseline: the raw log
// download of the same job by a Go client, plain and gzipped.
func BenchmarkJobPageMillionLines(b *testing.B) {
	e := testenv.Start(b, testenv.Options{})
	e.StartAgent(b, "agent-1", "e1-standard-2", 1)
	project(b, e, "huge", true, pipelineYAML("Million", millionCommand))
	_, job := runJob(b, e, "huge")
	waitJob(b, e, job.ID, ci.StateDone, 120*time.Second)

	br := newBrowser(b)
	var received atomic.Int64
	var requests atomic.Int64
	if err := chromedp.Listen(br.ctx, func(ev any) {
		if ev, ok := ev.(*network.EventLoadingFinished); ok {
			received.Add(int64(ev.EncodedDataLength))
			requests.Add(1)
		}
	}); err != nil {
		b.Fatal(err)
	}
	setup := func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, t, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: tailPaintProbe})
		return chromedp.Void{}, err
	}
	if _, err := chromedp.Run(br.ctx, setup); err != nil {
		b.Fatal(err)
	}

	var paint, kb, reqs, heapGrowth, sysGrowth []float64
	b.ResetTimer()
	for range b.N {
		heap0, sys0 := settledHeap()
		mem := sampleMemory()
		received.Store(0)
		requests.Store(0)
		br.do(chromedp.Navigate(e.URL + "/jobs/" + job.ID))
		br.wait(30*time.Second, "the tail painted", `window.__tailPaint > 0`)
		ms := eval[float64](br, `window.__tailPaint`)
		time.Sleep(300 * time.Millisecond) // requests still in flight count too
		heap, sys := mem.end()
		paint = append(paint, ms)
		kb = append(kb, float64(received.Load())/1024)
		reqs = append(reqs, float64(requests.Load()))
		heapGrowth = append(heapGrowth, float64(int64(heap)-int64(heap0))/(1<<20))
		sysGrowth = append(sysGrowth, float64(int64(sys)-int64(sys0))/(1<<20))
	}
	b.StopTimer()
	if rows := eval[int](br, `document.querySelectorAll('#log-view .row').length`); rows > 300 {
		b.Errorf("%d rows in the DOM", rows)
	}

	// Baseline: the raw download, by a Go client.
	var rawMS, rawKB, gzMS, gzKB, rawHeap []float64
	for range b.N {
		for _, gz := range []bool{false, true} {
			heap0, _ := settledHeap()
			mem := sampleMemory()
			start := time.Now()
			n := download(b, e, job.ID, gz)
			d := time.Since(start)
			heap, _ := mem.end()
			if gz {
				gzMS, gzKB = append(gzMS, float64(d.Microseconds())/1000), append(gzKB, float64(n)/1024)
			} else {
				rawMS, rawKB = append(rawMS, float64(d.Microseconds())/1000), append(rawKB, float64(n)/1024)
				rawHeap = append(rawHeap, float64(int64(heap)-int64(heap0))/(1<<20))
			}
		}
	}
	b.ReportMetric(median(paint), "ms/tail-paint")
	b.ReportMetric(slices.Max(paint), "ms/tail-paint-max")
	b.ReportMetric(median(kb), "KiB/page")
	b.ReportMetric(median(reqs), "requests/page")
	b.ReportMetric(median(heapGrowth), "MiB-heap-growth/page")
	b.ReportMetric(median(sysGrowth), "MiB-sys-growth/page")
	b.ReportMetric(median(rawMS), "ms/raw-download")
	b.ReportMetric(median(rawKB), "KiB/raw-download")
	b.ReportMetric(median(rawHeap), "MiB-heap-growth/raw-download")
	b.ReportMetric(median(gzMS), "ms/gzip-download")
	b.ReportMetric(median(gzKB), "KiB/gzip-download")
	b.Logf("page: paint %v ms, %v KiB, heap growth %v MiB; raw download %v ms %v KiB; gzip %v ms %v KiB", paint, kb, heapGrowth, rawMS, rawKB, gzMS, gzKB)
}

// download reads the raw log and returns the bytes received.
func download(tb testing.TB, e *testenv.Env, jobID string, gz bool) int64 {
	tb.Helper()
	req, _ := http.NewRequest("GET", e.URL+"/api/v1/jobs/"+jobID+"/log?format=text", nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	cr := &countReader{r: resp.Body}
	var body io.Reader = cr
	if gz {
		zr, err := gzip.NewReader(cr)
		if err != nil {
			tb.Fatal(err)
		}
		body = zr
	}
	lines := 0
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		lines++
	}
	if lines < 1_000_000 {
		tb.Fatalf("raw download: %d lines", lines)
	}
	return cr.n
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// latencyProbe records, for every "stamp I MS" line that appears in the
// log view, how long after MS (when the job printed it) it appeared.
const latencyProbe = `(() => {
  window.__lat = {};
  const note = () => {
    const now = Date.now();
    document.querySelectorAll('#log-view .tx').forEach(t => {
      const m = /^stamp (\d+) (\d+)$/.exec(t.textContent);
      if (m && !(m[1] in window.__lat)) window.__lat[m[1]] = now - Number(m[2]);
    });
  };
  new MutationObserver(note).observe(document.getElementById('log-view'), {childList: true, subtree: true, characterData: true});
})()`

var stampLine = regexp.MustCompile(`(?m)^stamp (\d+) (\d+)$`)

// sseLatency reads a log's event stream and records, per stamp line, how
// long after it was printed it arrived.
func sseLatency(ctx context.Context, url, token string, lat map[int]float64, mu *sync.Mutex) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		now := time.Now().UnixMilli()
		var texts []string
		var v struct {
			Text   []string `json:"text"`
			Output string   `json:"output"`
		}
		json.Unmarshal([]byte(line[6:]), &v)
		texts = append(v.Text, v.Output)
		mu.Lock()
		for _, t := range texts {
			for _, m := range stampLine.FindAllStringSubmatch(t, -1) {
				i, _ := strconv.Atoi(m[1])
				ms, _ := strconv.ParseInt(m[2], 10, 64)
				if _, seen := lat[i]; !seen {
					lat[i] = float64(now - ms)
				}
			}
		}
		mu.Unlock()
	}
	return nil
}

// BenchmarkLiveLogLatency measures how long a line a job prints takes to
// appear in the browser following the job's page: the job prints 60 lines
// with the time they were printed, 50 ms apart; the page records when
// each row appears (a MutationObserver). Baselines in the same run: the
// same lines read by Go SSE clients of the compact line stream the page
// uses (?follow=1&format=lines) and of the raw event stream (?follow=1).
// The agent sends a chunk at most 200 ms after its first event
// (agent.DefaultChunkInterval), which bounds all three.
func BenchmarkLiveLogLatency(b *testing.B) {
	e := testenv.Start(b, testenv.Options{})
	e.StartAgent(b, "agent-1", "e1-standard-2", 1)
	project(b, e, "live", true, pipelineYAML("Stamps",
		"sleep 2",
		`for i in $(seq 1 60); do echo "stamp $i $(date +%s%3N)"; sleep 0.05; done`,
	))
	br := newBrowser(b)
	var page, lines, events []float64
	b.ResetTimer()
	for range b.N {
		_, job := runJob(b, e, "live")
		waitJob(b, e, job.ID, ci.StateRunning, 30*time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		latLines, latEvents := map[int]float64{}, map[int]float64{}
		var wg sync.WaitGroup
		base := e.URL + "/api/v1/jobs/" + job.ID + "/log?follow=1"
		wg.Go(func() { sseLatency(ctx, base+"&format=lines&from=0", e.Token, latLines, &mu) })
		wg.Go(func() { sseLatency(ctx, base, e.Token, latEvents, &mu) })
		br.open(e.URL, "/jobs/"+job.ID)
		br.wait(10*time.Second, "the log viewer", `document.getElementById('log-view') && !document.getElementById('log-view').hidden`)
		eval[chromedp.Void](br, latencyProbe)
		waitJob(b, e, job.ID, ci.StateDone, 60*time.Second)
		br.wait(10*time.Second, "60 stamps in the page", `Object.keys(window.__lat).length >= 60`)
		got := eval[map[string]float64](br, `window.__lat`)
		cancel()
		wg.Wait()
		for _, v := range got {
			page = append(page, v)
		}
		for _, v := range latLines {
			lines = append(lines, v)
		}
		for _, v := range latEvents {
			events = append(events, v)
		}
	}
	b.StopTimer()
	if len(page) < 50 {
		b.Fatalf("only %d lines measured", len(page))
	}
	b.ReportMetric(percentile(page, .5), "ms-p50/browser")
	b.ReportMetric(percentile(page, .99), "ms-p99/browser")
	b.ReportMetric(percentile(lines, .5), "ms-p50/sse-lines")
	b.ReportMetric(percentile(lines, .99), "ms-p99/sse-lines")
	b.ReportMetric(percentile(events, .5), "ms-p50/sse-events")
	b.ReportMetric(percentile(events, .99), "ms-p99/sse-events")
	b.ReportMetric(float64(len(page)), "lines")
	b.Logf("browser p50 %.0f p99 %.0f; SSE lines p50 %.0f p99 %.0f; SSE events p50 %.0f p99 %.0f (n=%d)",
		percentile(page, .5), percentile(page, .99), percentile(lines, .5), percentile(lines, .99),
		percentile(events, .5), percentile(events, .99), len(page))
}
