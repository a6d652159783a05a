package apiclient_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/batonci/baton/internal/apiclient"
	"github.com/batonci/baton/internal/apiv1"
)

func TestClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/me":
			if r.Header.Get("Authorization") != "Token good" {
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"message":"invalid or revoked token"}`))
				return
			}
			w.Write([]byte(`{"login":"ada"}`))
		case "/api/v1/projects":
			if r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
			}
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"name":"app"}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("not the API\n"))
		}
	}))
	defer srv.Close()
	c := apiclient.New(srv.URL+"/", "good", nil)

	me, err := c.Me(t.Context())
	if err != nil || me.Login != "ada" {
		t.Errorf("Me = %+v, %v; want ada", me, err)
	}
	name := "app"
	if p, err := c.CreateProject(t.Context(), apiv1.ProjectRequest{Name: &name}); err != nil || p.Name != "app" {
		t.Errorf("CreateProject = %+v, %v", p, err)
	}

	tests := []struct {
		name       string
		client     *apiclient.Client
		path       string
		wantStatus int
		wantMsg    string
	}{
		{"the API's refusal", c.WithToken("stolen"), "/api/v1/me", 401, "invalid or revoked token"},
		{"an answer that is not the API's", c, "/elsewhere", 502, "not the API"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.client.Do(t.Context(), "GET", tt.path, nil, nil)
			var ae *apiv1.Error
			if !errors.As(err, &ae) || ae.Status != tt.wantStatus || ae.Message != tt.wantMsg {
				t.Errorf("err = %#v, want status %d %q", err, tt.wantStatus, tt.wantMsg)
			}
			if _, err := tt.client.Stream(t.Context(), tt.path); !errors.As(err, &ae) || ae.Status != tt.wantStatus {
				t.Errorf("Stream err = %v, want status %d", err, tt.wantStatus)
			}
		})
	}

	// No answer at all is the transport's error, not an API error.
	srv.Close()
	err = c.Do(t.Context(), "GET", "/api/v1/me", nil, nil)
	var ue *url.Error
	var ae *apiv1.Error
	if !errors.As(err, &ue) || errors.As(err, &ae) {
		t.Errorf("err = %#v, want a *url.Error", err)
	}
}
