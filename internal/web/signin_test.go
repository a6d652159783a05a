package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLocalPathNeverLeavesTheSite(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/": "/", "/projects/app": "/projects/app",
		"https://evil.example/": "/", "//evil.example/": "/", "/\\evil.example": "/", "javascript:alert(1)": "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
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
