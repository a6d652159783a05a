package forge

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPostJSONFollowsNoRedirect checks a forge that redirects does not
// get the token sent elsewhere.
func TestPostJSONFollowsNoRedirect(t *testing.T) {
	got := make(chan string, 1)
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("PRIVATE-TOKEN")
	}))
	defer elsewhere.Close()
	forge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer forge.Close()
	err := PostJSON(t.Context(), nil, forge.URL+"/api/v4/statuses", map[string]string{"PRIVATE-TOKEN": "glpat-secret"}, map[string]string{"state": "success"})
	if err == nil {
		t.Error("PostJSON followed a redirect without error")
	}
	select {
	case tok := <-got:
		t.Errorf("the redirect target got PRIVATE-TOKEN %q", tok)
	default:
	}
}
