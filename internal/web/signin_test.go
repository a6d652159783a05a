package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLocalPathNeverLeavesTheSite(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/projects/app", "/projects/app"},
		{"/projects/app?tab=logs#end", "/projects/app?tab=logs#end"},
		{"/jobs/1/logs?since=3", "/jobs/1/logs?since=3"},
		{"https://evil.example/", "/"},
		{"//evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\r/evil.example", "/"},
		{"/ /evil.example", "/"},
		{"/\x00/evil.example", "/"},
		{"/\u00a0/evil.example", "/"},
		{"/\u2028/evil.example", "/"},
		{"/%2F/evil.example", "/"},
		{"/projects/a\\b", "/"},
		{"javascript:alert(1)", "/"},
		{"http:/evil.example", "/"},
		{"\\\\evil.example", "/"},
	} {
		if got := localPath(tc.in); got != tc.want {
			t.Errorf("localPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSignInPageIsAccessible(t *testing.T) {
	w := New(Config{})
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest("GET", "/login?next=//evil.example", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	for _, want := range []string{`<html lang="en">`, `<label for="login">`, `<label for="password">`, `autocomplete="current-password"`, `name="next" value="/"`, `method="post" action="/login"`} {
		if !strings.Contains(body, want) {
			t.Errorf("sign-in page lacks %s", want)
		}
	}
	rec = httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest("POST", "/login", strings.NewReader("login=ada")))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `role="alert"`) {
		t.Errorf("incomplete form: status %d, want 400 with an alert", rec.Code)
	}
}
