package hosts

import "testing"

func TestNewAndCloneURL(t *testing.T) {
	for _, tc := range []struct{ kind, url, repo, clone, name string }{
		{"github", "", "octo/widget", "https://github.com/octo/widget.git", "github"},
		{"", "", "octo/widget", "", "github"},
		{"gitlab", "https://git.example.com/", "group/sub/proj", "https://git.example.com/group/sub/proj.git", "gitlab"},
		{"gitea", "https://gitea.example.com", "ada/x", "https://gitea.example.com/ada/x.git", "gitea"},
	} {
		f, err := New(tc.kind, tc.url, "", nil)
		if err != nil || f.Name() != tc.name {
			t.Errorf("New(%q) = %v, %v; want %s", tc.kind, f, err, tc.name)
		}
		if tc.clone == "" {
			continue
		}
		if got, err := CloneURL(tc.kind, tc.url, tc.repo); err != nil || got != tc.clone {
			t.Errorf("CloneURL(%q, %q) = %q, %v; want %q", tc.kind, tc.repo, got, err, tc.clone)
		}
	}
	if _, err := New("bitbucket", "", "", nil); err == nil {
		t.Error("an unknown forge is accepted")
	}
	if _, err := New("gitea", "", "", nil); err == nil {
		t.Error("gitea without a URL is accepted")
	}
	if _, err := CloneURL("github", "", "noslash"); err == nil {
		t.Error("a repository without owner is accepted")
	}
}
