package bench

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkFailedPipelineToSlack: a pipeline whose only job fails, with an
// organisation notification to a Slack endpoint (a local receiver): from
// the pipeline's end (its done_at) to the Slack message arriving, over 30
// runs, and from the API call that starts the workflow. The baseline is a
// bare HTTP POST of the same message to the same receiver. (The project
// is private, so the rule names it.)
func BenchmarkFailedPipelineToSlack(b *testing.B) {
	e := serviceEnv(b, 1, 1, "version: v1.0\nagent:\n  machine:\n    type: e1-standard-2\nblocks:\n  - task:\n      jobs:\n        - name: Run\n          commands:\n            - \"false\"\n")
	type arrival struct {
		at   time.Time
		body []byte
	}
	got := make(chan arrival, 100)
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- arrival{time.Now(), body}
	}))
	defer slack.Close()
	e.Do("POST", "/api/v1/notifications", map[string]any{"name": "bench", "projects": []string{"bench"}, "results": []string{"failed"},
		"slack_endpoint": slack.URL + "/services/T/B/x", "slack_channels": []string{"#ci"}}, nil, http.StatusCreated)
	const runs = 30
	for b.Loop() {
		var fromEnd, fromTrigger, bare []time.Duration
		var sample []byte
		for i := 0; i < runs; i++ {
			start := time.Now()
			id := trigger(e)
			var a arrival
			select {
			case a = <-got:
			case <-time.After(60 * time.Second):
				b.Fatalf("run %d: no Slack message", i)
			}
			wf := e.WaitWorkflow(id, 30*time.Second)
			fromEnd = append(fromEnd, a.at.Sub(wf.Pipelines[0].DoneAt))
			fromTrigger = append(fromTrigger, a.at.Sub(start))
			sample = a.body
		}
		for i := 0; i < runs; i++ {
			start := time.Now()
			resp, err := http.Post(slack.URL+"/services/T/B/x", "application/json", bytes.NewReader(sample))
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			<-got
			bare = append(bare, time.Since(start))
		}
		b.ReportMetric(float64(percentile(fromEnd, 0.5).Microseconds())/1000, "end-to-slack-p50-ms")
		b.ReportMetric(float64(percentile(fromEnd, 0.99).Microseconds())/1000, "end-to-slack-p99-ms")
		b.ReportMetric(float64(percentile(fromTrigger, 0.5).Microseconds())/1000, "trigger-to-slack-p50-ms")
		b.ReportMetric(float64(percentile(bare, 0.5).Microseconds())/1000, "bare-post-p50-ms")
	}
}
