package server_test

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseMetrics parses a /metrics body with Prometheus' own text parser,
// which refuses what a Prometheus server would refuse (a repeated HELP or
// TYPE line, a malformed sample).
func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus' parser rejects /metrics: %v\n%s", err, text)
	}
	return families
}

// checkMetricFamilies checks the families /metrics must carry and their
// types: Baton's own, the Go runtime's and the process'.
func checkMetricFamilies(t *testing.T, families map[string]*dto.MetricFamily) {
	t.Helper()
	for name, typ := range map[string]dto.MetricType{
		"baton_jobs":                             dto.MetricType_GAUGE,
		"baton_queue_length":                     dto.MetricType_GAUGE,
		"baton_jobs_finished_total":              dto.MetricType_COUNTER,
		"baton_agents_connected":                 dto.MetricType_GAUGE,
		"baton_dispatch_latency_seconds":         dto.MetricType_SUMMARY,
		"baton_agents_lost_total":                dto.MetricType_COUNTER,
		"baton_log_bytes_total":                  dto.MetricType_COUNTER,
		"baton_forge_statuses_total":             dto.MetricType_COUNTER,
		"baton_db_connections_open":              dto.MetricType_GAUGE,
		"baton_db_connections_in_use":            dto.MetricType_GAUGE,
		"baton_db_connection_waits_total":        dto.MetricType_COUNTER,
		"baton_db_connection_wait_seconds_total": dto.MetricType_COUNTER,
		"baton_db_connections_closed_idle_total": dto.MetricType_COUNTER,
		"go_goroutines":                          dto.MetricType_GAUGE,
		"go_memstats_alloc_bytes":                dto.MetricType_GAUGE,
		"process_resident_memory_bytes":          dto.MetricType_GAUGE,
		"process_cpu_seconds_total":              dto.MetricType_COUNTER,
	} {
		f, ok := families[name]
		if !ok {
			t.Errorf("/metrics lacks %s", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s has type %v, want %v", name, f.GetType(), typ)
		}
	}
	// The scrape itself read the database: a connection is open.
	if f := families["baton_db_connections_open"]; f != nil && f.GetMetric()[0].GetGauge().GetValue() < 1 {
		t.Errorf("baton_db_connections_open = %v after a read of the database", f.GetMetric()[0].GetGauge().GetValue())
	}
	jobs := families["baton_jobs"]
	if jobs == nil {
		return
	}
	var states []string
	for _, m := range jobs.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "state" {
				states = append(states, l.GetValue())
			}
		}
	}
	if got := strings.Join(states, ","); got != "pending,queued,running" {
		t.Errorf("baton_jobs states = %s, want pending,queued,running", got)
	}
}
