package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
)

// overviewFixture stores a public and a private project with workflows of
// branches, a tag and pull requests.
func overviewFixture(t *testing.T, e *env) (pub, priv *ci.Project, wfs []*ci.Workflow) {
	t.Helper()
	pub, priv = &ci.Project{Name: "pub", Public: true}, &ci.Project{Name: "priv"}
	start := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	err := e.db.Tx(t.Context(), func(tx *store.Tx) error {
		for _, p := range []*ci.Project{pub, priv} {
			if err := tx.CreateProject(p); err != nil {
				return err
			}
		}
		for i, ref := range [][3]string{{"branch", "main", ""}, {"branch", "main", ""}, {"branch", "dev", ""}, {"tag", "", "v1"}, {"pull-request", "main", "7"}} {
			w := &ci.Workflow{ProjectID: pub.ID, Trigger: ci.TriggerPush, RefType: ref[0], Branch: ref[1], CreatedAt: start.Add(time.Duration(i) * time.Minute)}
			if ref[0] == "tag" {
				w.Tag = ref[2]
			} else if ref[0] == "pull-request" {
				w.PR = ref[2]
			}
			if err := tx.CreateWorkflow(w); err != nil {
				return err
			}
			pl := &ci.Pipeline{WorkflowID: w.ID, ProjectID: pub.ID, Name: "p", State: ci.StateDone, Result: ci.ResultPassed,
				StartedAt: w.CreatedAt, DoneAt: w.CreatedAt.Add(83 * time.Second)}
			if err := tx.CreatePipeline(pl); err != nil {
				return err
			}
			wfs = append(wfs, w)
		}
		return tx.CreateWorkflow(&ci.Workflow{ProjectID: priv.ID, Trigger: ci.TriggerPush, RefType: "branch", Branch: "main"})
	})
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv, wfs
}

func TestProjectRefsHistoryAndAccess(t *testing.T) {
	e := newEnv(t)
	pub, _, wfs := overviewFixture(t, e)
	writer := e.addUser(t, "wri", "", false)
	outsider := e.addUser(t, "out", "", false)
	err := e.db.Tx(t.Context(), func(tx *store.Tx) error {
		u, _, err := tx.GetUserByLogin("wri")
		if err != nil {
			return err
		}
		return tx.SetMember(&store.Member{ProjectID: pub.ID, UserID: u.ID, Role: "write"})
	})
	if err != nil {
		t.Fatal(err)
	}

	// Refs: the latest workflow per branch, tag and pull request, anonymously
	// on a public project.
	var refs apiv1.RefsView
	json.Unmarshal([]byte(e.want(t, call{method: "GET", path: "/api/v1/projects/pub/refs"}, http.StatusOK)), &refs)
	if len(refs.Branches) != 2 || refs.Branches[0].Name != "dev" || refs.Branches[1].Name != "main" || refs.Branches[1].Workflow.ID != wfs[1].ID {
		t.Errorf("branches = %+v, want dev, then main with its second workflow", refs.Branches)
	}
	if len(refs.Tags) != 1 || refs.Tags[0].Name != "v1" || len(refs.PullRequests) != 1 || refs.PullRequests[0].Name != "7" {
		t.Errorf("tags = %+v, pull requests = %+v", refs.Tags, refs.PullRequests)
	}
	if d := refs.Branches[1].Workflow.Duration; d != 83000 {
		t.Errorf("duration = %d ms, want 83000", d)
	}

	// History pages: 2 per page, newest first, then the next page.
	var page apiv1.HistoryView
	json.Unmarshal([]byte(e.want(t, call{method: "GET", path: "/api/v1/projects/pub/history?limit=2"}, http.StatusOK)), &page)
	if len(page.Workflows) != 2 || page.Workflows[0].ID != wfs[4].ID || page.Next == "" {
		t.Fatalf("first page = %+v", page)
	}
	var seen []string
	for next := "x"; next != ""; {
		for _, w := range page.Workflows {
			seen = append(seen, w.ID)
		}
		next = page.Next
		if next != "" {
			page = apiv1.HistoryView{}
			json.Unmarshal([]byte(e.want(t, call{method: "GET", path: "/api/v1/projects/pub/history?limit=2&before=" + url.QueryEscape(next)}, http.StatusOK)), &page)
		}
	}
	if len(seen) != 5 || seen[4] != wfs[0].ID {
		t.Errorf("paged through %d workflows, want all 5 ending with the oldest", len(seen))
	}
	e.want(t, call{method: "GET", path: "/api/v1/projects/pub/history?before=yesterday"}, http.StatusBadRequest)

	// Access: what the caller may do.
	for _, tc := range []struct {
		token, role string
		write       bool
	}{{"", "read", false}, {outsider, "read", false}, {writer, "write", true}} {
		var acc apiv1.AccessView
		json.Unmarshal([]byte(e.want(t, call{method: "GET", path: "/api/v1/projects/pub/access", token: tc.token}, http.StatusOK)), &acc)
		if acc.Role != tc.role || acc.Write != tc.write || acc.Admin {
			t.Errorf("access = %+v, want role %s", acc, tc.role)
		}
	}

	// A private project does not leak to outsiders.
	for _, p := range []string{"refs", "history", "access"} {
		e.want(t, call{method: "GET", path: "/api/v1/projects/priv/" + p}, http.StatusNotFound)
		e.want(t, call{method: "GET", path: "/api/v1/projects/priv/" + p, token: outsider}, http.StatusNotFound)
	}
}
