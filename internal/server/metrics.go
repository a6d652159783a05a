package server

import (
	"context"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/batonci/baton/internal/ci"
)

// serverMetrics is this server's Prometheus registry: Go runtime and
// process collectors plus the server's own event counters. Counts read
// from the store are gathered per scrape (see metrics).
type serverMetrics struct {
	once     sync.Once
	registry *prometheus.Registry
}

var (
	jobsDesc     = prometheus.NewDesc("baton_jobs", "Jobs by state.", []string{"state"}, nil)
	queueDesc    = prometheus.NewDesc("baton_queue_length", "Jobs waiting for an agent.", nil, nil)
	finishedDesc = prometheus.NewDesc("baton_jobs_finished_total", "Finished jobs by result.", []string{"result"}, nil)
	agentsDesc   = prometheus.NewDesc("baton_agents_connected", "Agents connected now.", nil, nil)
	latencyDesc  = prometheus.NewDesc("baton_dispatch_latency_seconds",
		"Time jobs waited in the queue before an agent of this server received them.", nil, nil)
	statusesDesc = prometheus.NewDesc("baton_forge_statuses_total",
		"Commit statuses this server reported to forges, by outcome (failed: given up after retries).", []string{"outcome"}, nil)
)

// metricsRegistry builds the server's registry on first use.
func (s *Server) metricsRegistry() *prometheus.Registry {
	m := &s.metricsState
	m.once.Do(func() {
		reg := prometheus.NewRegistry()
		c := &s.counters
		reg.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "baton_agents_lost_total", Help: "Agents this server declared lost.",
			}, func() float64 { return float64(c.agentsLost.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "baton_log_bytes_total", Help: "Log bytes this server received from agents.",
			}, func() float64 { return float64(c.logBytes.Load()) }),
			serverCounters{s},
		)
		pool := s.Store.PoolStats
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "baton_db_connections_open", Help: "Connections this server holds open to its database (in use or idle).",
			}, func() float64 { return float64(pool().OpenConnections) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "baton_db_connections_in_use", Help: "Connections to the database in use now.",
			}, func() float64 { return float64(pool().InUse) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "baton_db_connection_waits_total", Help: "Times work waited for a free connection to the database (the pool was full: see --db-max-conns).",
			}, func() float64 { return float64(pool().WaitCount) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "baton_db_connection_wait_seconds_total", Help: "Time work spent waiting for a free connection to the database.",
			}, func() float64 { return pool().WaitDuration.Seconds() }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "baton_db_connections_closed_idle_total", Help: "Connections to the database closed for having been idle.",
			}, func() float64 { st := pool(); return float64(st.MaxIdleClosed + st.MaxIdleTimeClosed) }),
		)
		m.registry = reg
	})
	return m.registry
}

// serverCounters exports the dispatch latency summary and the forge status
// counts, which are read together at scrape time.
type serverCounters struct{ s *Server }

func (serverCounters) Describe(ch chan<- *prometheus.Desc) {
	ch <- latencyDesc
	ch <- statusesDesc
}

func (sc serverCounters) Collect(ch chan<- prometheus.Metric) {
	c := &sc.s.counters
	ch <- prometheus.MustNewConstSummary(latencyDesc,
		uint64(c.dispatched.Load()), float64(c.dispatchNanos.Load())/1e9, nil)
	sent, failed := sc.s.Statuses.Counts()
	ch <- prometheus.MustNewConstMetric(statusesDesc, prometheus.CounterValue, float64(sent), "sent")
	ch <- prometheus.MustNewConstMetric(statusesDesc, prometheus.CounterValue, float64(failed), "failed")
}

// storeCounts are the counts read from the store for one scrape, so several
// servers report the same numbers.
type storeCounts []prometheus.Metric

func (storeCounts) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{jobsDesc, queueDesc, finishedDesc, agentsDesc} {
		ch <- d
	}
}

func (sc storeCounts) Collect(ch chan<- prometheus.Metric) {
	for _, m := range sc {
		ch <- m
	}
}

// readStoreCounts reads the job and agent counts. Only the job counts by
// state are required; the others are left out when the store fails them.
func (s *Server) readStoreCounts(ctx context.Context) (storeCounts, error) {
	var out storeCounts
	for _, st := range []ci.State{ci.StatePending, ci.StateQueued, ci.StateRunning} {
		n, err := s.Store.CountJobs(ctx, st)
		if err != nil {
			return nil, err
		}
		out = append(out, prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n), string(st)))
	}
	if n, err := s.Store.CountJobs(ctx, ci.StateQueued); err == nil {
		out = append(out, prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n)))
	}
	if results, err := s.Store.CountJobResults(ctx); err == nil {
		for res, n := range results {
			out = append(out, prometheus.MustNewConstMetric(finishedDesc, prometheus.CounterValue, float64(n), string(res)))
		}
	}
	if agents, err := s.Store.ListAgents(ctx); err == nil {
		connected := 0
		for _, a := range agents {
			if a.State == ci.AgentConnected || a.State == ci.AgentDraining {
				connected++
			}
		}
		out = append(out, prometheus.MustNewConstMetric(agentsDesc, prometheus.GaugeValue, float64(connected)))
	}
	return out, nil
}

// metrics serves Prometheus metrics: the Go runtime and process, this
// server's own counters, and counts computed from the store at scrape time.
// They are counts only (no names), so the endpoint needs no authentication.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	counts, err := s.readStoreCounts(r.Context())
	if err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	scrape := prometheus.NewRegistry()
	if err := scrape.Register(counts); err != nil {
		http.Error(w, "metrics unavailable", http.StatusInternalServerError)
		return
	}
	promhttp.HandlerFor(prometheus.Gatherers{s.metricsRegistry(), scrape}, promhttp.HandlerOpts{
		ErrorHandling: promhttp.HTTPErrorOnError,
	}).ServeHTTP(w, r)
}
