package repourl

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		url          string
		admin, other error // nil: allowed
	}{
		{"https://git.example.org/team/app.git", nil, nil},
		{"http://git.example.org/app", nil, nil},
		{"ssh://git@git.example.org:2222/app.git", nil, nil},
		{"git://git.example.org/app.git", nil, nil},
		{"git+ssh://git@git.example.org/app.git", nil, nil},
		{"git@git.example.org:team/app.git", nil, nil},
		{"git.example.org:app.git", nil, nil},
		{"https://ada:tok3n@git.example.org/app.git", nil, nil},
		{"file:///srv/data/repo", nil, ErrLocal},
		{"FILE:///srv/data/repo", nil, ErrLocal},
		{"file://localhost/srv/repo", nil, ErrLocal},
		{"/var/lib/baton", nil, ErrLocal},
		{"./repo", nil, ErrLocal},
		{"../../data", nil, ErrLocal},
		{"repo", nil, ErrLocal},
		{"C:/repos/app", nil, ErrLocal},
		{"ext::sh -c touch% /tmp/pwned", nil, ErrLocal},
		{"fd::17", nil, ErrLocal},
		{"", ErrInvalid, ErrInvalid},
		{"-uhttps://x", ErrInvalid, ErrInvalid},
		{"ftp://git.example.org/app", ErrInvalid, ErrInvalid},
		{"https:///no-host", ErrInvalid, ErrInvalid},
		{"ssh://-oProxyCommand=x/app", ErrInvalid, ErrInvalid},
		{"git@-oProxyCommand=x:app", ErrInvalid, ErrInvalid},
		{"https://host/app\n", nil, nil},
		{"https://host/a\nb", ErrInvalid, ErrInvalid},
	} {
		for admin, want := range map[bool]error{true: tc.admin, false: tc.other} {
			err := Check(tc.url, admin)
			if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
				t.Errorf("Check(%q, admin=%t) = %v, want %v", tc.url, admin, err, want)
			}
		}
	}
}

func TestCheckErrorNamesTheRuleAndHidesCredentials(t *testing.T) {
	err := Check("file://ada:s3cr3t-value@localhost/srv/repo", false)
	if err == nil || !strings.Contains(err.Error(), "only be used by organisation admins") {
		t.Fatalf("error = %v, want the admin rule named", err)
	}
	if strings.Contains(err.Error(), "s3cr3t-value") {
		t.Errorf("error shows the credentials: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://ada:tok3n@git.example.org/app.git":         "https://***@git.example.org/app.git",
		"https://tok3n@git.example.org/app.git":             "https://***@git.example.org/app.git",
		"https://ada:p@ss@git.example.org/app.git":          "https://***@git.example.org/app.git",
		"ssh://git:pw@host:22/app":                          "ssh://***@host:22/app",
		"https://git.example.org/app.git":                   "https://git.example.org/app.git",
		"git@git.example.org:team/app.git":                  "git@git.example.org:team/app.git",
		"https://git.example.org/app?email=a@b":             "https://git.example.org/app?email=a@b",
		"fatal: unable to access 'https://u:t0k@h/r/': 403": "fatal: unable to access 'https://***@h/r/': 403",
		"from https://a:b@h1/x and http://c:d@h2/y":         "from https://***@h1/x and http://***@h2/y",
		"": "",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
