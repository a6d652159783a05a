package server

import (
	"fmt"
	"net/http"

	"github.com/batonci/baton/internal/ci"
)

// metrics serves Prometheus text-format metrics, computed from the store at
// scrape time so several servers report the same numbers. They are counts
// only (no names), so the endpoint needs no authentication.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	gauge := func(name, help string, v any, labels string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s%s %v\n", name, help, name, name, labels, v)
	}
	for _, st := range []ci.State{ci.StatePending, ci.StateQueued, ci.StateRunning} {
		n, err := s.Store.CountJobs(r.Context(), st)
		if err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		gauge("baton_jobs", "Jobs by state.", n, fmt.Sprintf(`{state=%q}`, st))
	}
	if n, err := s.Store.CountJobs(r.Context(), ci.StateQueued); err == nil {
		gauge("baton_queue_length", "Jobs waiting for an agent.", n, "")
	}
	results, err := s.Store.CountJobResults(r.Context())
	if err == nil {
		fmt.Fprint(w, "# HELP baton_jobs_finished_total Finished jobs by result.\n# TYPE baton_jobs_finished_total counter\n")
		for res, n := range results {
			fmt.Fprintf(w, "baton_jobs_finished_total{result=%q} %d\n", res, n)
		}
	}
	agents, err := s.Store.ListAgents(r.Context())
	if err == nil {
		connected := 0
		for _, a := range agents {
			if a.State == ci.AgentConnected || a.State == ci.AgentDraining {
				connected++
			}
		}
		gauge("baton_agents_connected", "Agents connected now.", connected, "")
	}
	c := &s.counters
	fmt.Fprintf(w, "# HELP baton_dispatch_latency_seconds Time jobs waited in the queue before an agent of this server received them.\n# TYPE baton_dispatch_latency_seconds summary\n")
	fmt.Fprintf(w, "baton_dispatch_latency_seconds_sum %f\nbaton_dispatch_latency_seconds_count %d\n", float64(c.dispatchNanos.Load())/1e9, c.dispatched.Load())
	fmt.Fprintf(w, "# HELP baton_agents_lost_total Agents this server declared lost.\n# TYPE baton_agents_lost_total counter\nbaton_agents_lost_total %d\n", c.agentsLost.Load())
	fmt.Fprintf(w, "# HELP baton_log_bytes_total Log bytes this server received from agents.\n# TYPE baton_log_bytes_total counter\nbaton_log_bytes_total %d\n", c.logBytes.Load())
	sent, failed := s.Statuses.Counts()
	fmt.Fprintf(w, "# HELP baton_forge_statuses_total Commit statuses this server reported to forges, by outcome (failed: given up after retries).\n# TYPE baton_forge_statuses_total counter\n")
	fmt.Fprintf(w, "baton_forge_statuses_total{outcome=\"sent\"} %d\nbaton_forge_statuses_total{outcome=\"failed\"} %d\n", sent, failed)
}
