package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/web"
)

// TestCSPViolationsAreSeen checks the browser tests would notice a page
// breaking the Content-Security-Policy: a page with an inline script, a
// style attribute and an event handler, under Baton's policy, reports
// all three, and the inline script does not run.
func TestCSPViolationsAreSeen(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", web.ContentSecurityPolicy)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>bad</title><p id="p" style="color:red">x</p>`+
			`<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" onload="document.title='handler ran'">`+
			`<script>document.title = 'inline ran'</script>`)
	}))
	defer srv.Close()
	b := newBrowser(t)
	b.expectViolations = true
	b.open(srv.URL, "/")
	deadline := time.Now().Add(5 * time.Second)
	for len(b.csp()) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := strings.Join(b.csp(), "\n")
	for _, want := range []string{"script-src", "style-src"} {
		if !strings.Contains(got, want) {
			t.Errorf("violations %q lack %s", got, want)
		}
	}
	if len(b.csp()) < 3 {
		t.Errorf("%d violations seen, want 3 (inline script, handler, style attribute): %s", len(b.csp()), got)
	}
	if title := eval[string](b, `document.title`); title != "bad" {
		t.Errorf("title %q: inline code ran under the policy", title)
	}
}
