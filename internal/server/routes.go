package server

import (
	"net/http"
	"slices"

	"github.com/batonci/baton/internal/api"
	"github.com/batonci/baton/internal/web"
)

// routes builds the server's handler: the API under /api/, the agent
// protocol under /agent/, webhooks, metrics, and the web pages. Every route
// has a rule in the API's authorisation table (api.API.Rules), which a test
// checks against Routes.
//
// Cross-origin state-changing requests from browsers are refused
// (http.CrossOriginProtection: Sec-Fetch-Site, then Origin): together with
// SameSite=Lax session cookies and the session's CSRF token on API writes,
// this protects cookie-authenticated requests from CSRF. Requests without
// those headers (the CLI, agents, webhooks) are not affected.
func (s *Server) routes(a *api.API, w *web.Web) http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.Handler) {
		s.patterns = append(s.patterns, pattern)
		mux.Handle(pattern, h)
	}
	mux.Handle("/api/", a)
	s.patterns = append(s.patterns, a.Patterns()...)
	handle("/agent/", s.Dispatch.Handler())
	handle("POST /hooks/{project}", http.HandlerFunc(s.Trigger.Webhook))
	handle("GET /metrics", http.HandlerFunc(s.metrics))
	mux.Handle("/", w)
	s.patterns = append(s.patterns, w.Patterns()...)
	s.api = a
	return securityHeaders(http.NewCrossOriginProtection().Handler(mux))
}

// securityHeaders sends the pages' Content-Security-Policy with every
// answer, the mux's own redirects and errors included.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", web.ContentSecurityPolicy)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// Routes lists the pattern of every route the server answers: the API's,
// the pages', and its own.
func (s *Server) Routes() []string { return slices.Clone(s.patterns) }

// Rules is the authorisation table: every route with its access rule.
func (s *Server) Rules() []api.Rule { return s.api.Rules() }
