package ci

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestProjectJSONHidesURLCredentials: a project's JSON, by value or by
// pointer, alone or inside a list, never carries its URL's credentials.
func TestProjectJSONHidesURLCredentials(t *testing.T) {
	p := Project{Name: "app", RepoURL: "https://ada:t0ken@git.example.org/team/app.git"}
	for name, v := range map[string]any{"value": p, "pointer": &p, "list": []*Project{&p}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "t0ken") || !strings.Contains(string(b), `"repo_url":"https://***@git.example.org/team/app.git"`) {
			t.Errorf("%s: %s", name, b)
		}
	}
	if p.RepoURL != "https://ada:t0ken@git.example.org/team/app.git" {
		t.Errorf("marshalling changed the project: %q", p.RepoURL)
	}
}
