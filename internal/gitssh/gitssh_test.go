package gitssh_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/gitssh"
	"github.com/batonci/baton/internal/gitssh/gitsshtest"
	"github.com/batonci/baton/internal/secret"
)

// lsRemote runs git ls-remote url with id and returns its output.
func lsRemote(t *testing.T, id gitssh.Identity, url string) (string, error) {
	t.Helper()
	env, cleanup, err := id.Env()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	out, err := gitrepo.Command(t.Context(), t.TempDir(), env, "ls-remote", "--", url).CombinedOutput()
	return string(out), err
}

// TestIdentityWithRealSSHD: git reaches a repository served by the real
// OpenSSH server with the identity's key alone, checking the host key
// against the identity's known hosts; another key, an unknown host key
// and a changed one are refused; the key file is gone after.
func TestIdentityWithRealSSHD(t *testing.T) {
	t.Parallel()
	srv := gitsshtest.Start(t)
	bare := filepath.Join(t.TempDir(), "lib.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	url := srv.URL(bare)

	scanned, err := gitssh.ScanHostKeys(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(scanned, strings.Fields(srv.HostKnown)[2]) {
		t.Errorf("scanned host keys = %q, want the server's %q", scanned, srv.HostKnown)
	}
	if shown, err := gitssh.HostKeys(scanned); err != nil || len(shown) == 0 || !strings.Contains(shown[0], "SHA256:") {
		t.Errorf("HostKeys = %q, %v", shown, err)
	}

	good := gitssh.Identity{Key: secret.NewValue(srv.ClientKey), KnownHosts: srv.HostKnown}
	if out, err := lsRemote(t, good, url); err != nil {
		t.Fatalf("ls-remote with the client key: %v\n%s", err, out)
	}
	// The scanned host keys do as well as the server's own line.
	if out, err := lsRemote(t, gitssh.Identity{Key: good.Key, KnownHosts: scanned}, url); err != nil {
		t.Fatalf("ls-remote with the scanned host keys: %v\n%s", err, out)
	}
	out, err := lsRemote(t, gitssh.Identity{Key: secret.NewValue(srv.OtherKey), KnownHosts: srv.HostKnown}, url)
	if err == nil || !strings.Contains(out, "Permission denied (publickey)") {
		t.Errorf("ls-remote with another key: %v\n%s", err, out)
	}
	out, err = lsRemote(t, gitssh.Identity{Key: good.Key}, url)
	if err == nil || !strings.Contains(out, "Host key verification failed") {
		t.Errorf("ls-remote without known hosts: %v\n%s", err, out)
	}
	otherHost := strings.Fields(srv.HostKnown)[0] + " " + strings.Join(strings.Fields(mustPub(t, srv.OtherKey))[:2], " ") + "\n"
	out, err = lsRemote(t, gitssh.Identity{Key: good.Key, KnownHosts: otherHost}, url)
	if err == nil || !strings.Contains(out, "Host key verification failed") {
		t.Errorf("ls-remote with another host key known: %v\n%s", err, out)
	}

	env, cleanup, err := good.Env()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(env, "\n"), strings.Split(srv.ClientKey, "\n")[1]) {
		t.Errorf("the environment holds the key: %q", env)
	}
	keyFile := strings.Split(strings.SplitN(env[0], "-i '", 2)[1], "'")[0]
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file %s: %v %v, want mode 0600", keyFile, fi, err)
	}
	if fi, err := os.Stat(filepath.Dir(keyFile)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("key directory: %v %v, want mode 0700", fi, err)
	}
	cleanup()
	if _, err := os.Stat(filepath.Dir(keyFile)); !os.IsNotExist(err) {
		t.Errorf("the key's directory is still there after cleanup: %v", err)
	}
}

func mustPub(t *testing.T, key string) string {
	t.Helper()
	pub, _, err := gitssh.PublicKey(secret.NewValue(key))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestPublicKeyAndEndpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, pass := range []string{"", "sesame"} {
		p := filepath.Join(dir, "k"+pass)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", pass, "-C", "c", "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		b, _ := os.ReadFile(p)
		pub, fp, err := gitssh.PublicKey(secret.NewValue(string(b)))
		if pass != "" {
			if err == nil || !strings.Contains(err.Error(), "passphrase") {
				t.Errorf("a key with a passphrase: %v", err)
			}
			continue
		}
		want, _ := os.ReadFile(p + ".pub")
		if err != nil || !strings.HasPrefix(string(want), pub) || !strings.HasPrefix(fp, "SHA256:") {
			t.Errorf("PublicKey = %q %q %v, want %q", pub, fp, err, want)
		}
	}
	if _, _, err := gitssh.PublicKey(secret.NewValue("-----BEGIN OPENSSH PRIVATE KEY-----\nsecretstuff\n")); err == nil || strings.Contains(err.Error(), "secretstuff") {
		t.Errorf("a broken key: %v", err)
	}
	for url, want := range map[string]string{
		"ssh://git@example.test:2222/org/lib.git": "example.test:2222",
		"ssh://example.test/org/lib.git":          "example.test:22",
		"git@example.test:org/lib.git":            "example.test:22",
		"https://example.test/org/lib.git":        "",
		"/srv/git/lib.git":                        "",
		"./a:b":                                   "",
	} {
		host, port, ok := gitssh.Endpoint(url)
		got := ""
		if ok {
			got = host + ":" + port
		}
		if got != want {
			t.Errorf("Endpoint(%q) = %q, want %q", url, got, want)
		}
	}
}
