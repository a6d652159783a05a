// Package gitssh lets git reach a repository over SSH with a key of its
// own: a script library's deploy key, kept sealed by the server.
//
// The key is never on a command line nor in an environment variable:
// for the duration of one git command it is in a file only its owner may
// read (0600, in a directory of its own, 0700, under the temporary
// directory), which the cleanup removes. git runs ssh through
// GIT_SSH_COMMAND with that file alone (IdentitiesOnly, no agent, no
// configuration file of the machine's user, BatchMode: no prompt).
//
// Host keys are always checked (StrictHostKeyChecking=yes) against the
// known_hosts lines stored with the identity, never the machine's
// user's. Where they come from is the caller's choice: given by an
// admin, or scanned (ScanHostKeys) when the identity is first set up,
// trusting the host on first use, as ssh's accept-new does.
package gitssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/batonci/baton/internal/secret"
)

// Identity is a private key and the host keys the server must show.
type Identity struct {
	// Key is the private key, OpenSSH or PEM, without a passphrase.
	Key secret.Value
	// KnownHosts are known_hosts lines; a host not listed is refused.
	KnownHosts string
}

// Env writes the identity's key and known hosts to a private temporary
// directory and returns the variables that make git use them (to append
// to its environment) and a cleanup that removes the directory; call it
// when the git command has ended.
func (id Identity) Env() (env []string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "baton-ssh-")
	if err != nil {
		return nil, nil, fmt.Errorf("ssh key: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	key, hosts := filepath.Join(dir, "key"), filepath.Join(dir, "known_hosts")
	pem := id.Key.Reveal()
	if !strings.HasSuffix(pem, "\n") {
		pem += "\n" // ssh refuses a key without its final newline
	}
	if err := os.WriteFile(key, []byte(pem), 0o600); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("ssh key: %w", err)
	}
	if err := os.WriteFile(hosts, []byte(id.KnownHosts), 0o600); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("ssh key: %w", err)
	}
	cmd := strings.Join([]string{"ssh", "-F", "none", "-i", quote(key),
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
		"-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + quote(hosts),
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"}, " ")
	return []string{"GIT_SSH_COMMAND=" + cmd, "GIT_SSH=", "GIT_SSH_VARIANT=ssh"}, cleanup, nil
}

// quote is s in single quotes for the shell git runs GIT_SSH_COMMAND with.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// IsSSH reports whether a repository URL is reached over SSH:
// ssh://[user@]host[:port]/path or git's [user@]host:path.
func IsSSH(raw string) bool {
	_, _, ok := Endpoint(raw)
	return ok
}

// Endpoint is the host and port of an SSH repository URL; ok is false for
// another kind of URL.
func Endpoint(raw string) (host, port string, ok bool) {
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "ssh" && u.Scheme != "git+ssh" && u.Scheme != "ssh+git") || u.Hostname() == "" {
			return "", "", false
		}
		return u.Hostname(), cmpOr(u.Port(), "22"), true
	}
	colon, slash := strings.IndexByte(raw, ':'), strings.IndexByte(raw, '/')
	if colon <= 0 || (slash >= 0 && slash < colon) {
		return "", "", false // a path on this machine
	}
	host = raw[:colon]
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" || strings.HasPrefix(host, "-") {
		return "", "", false
	}
	return host, "22", true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// PublicKey checks a private key and returns its public key as an
// authorized_keys line and its SHA256 fingerprint. A key with a
// passphrase is refused: nobody is there to type it.
func PublicKey(key secret.Value) (authorized, fingerprint string, err error) {
	signer, err := ssh.ParsePrivateKey([]byte(key.Reveal()))
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return "", "", errors.New("the SSH key has a passphrase; give a key without one (a deploy key for this repository)")
	}
	if err != nil {
		// Never the parser's message: it may quote the key.
		return "", "", errors.New("not an SSH private key (OpenSSH or PEM format, as ssh-keygen writes it)")
	}
	pub := signer.PublicKey()
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), ssh.FingerprintSHA256(pub), nil
}

// HostKeys checks known_hosts lines and returns each key as "HOSTS TYPE
// FINGERPRINT", to show.
func HostKeys(knownHosts string) ([]string, error) {
	var out []string
	rest := []byte(knownHosts)
	for len(bytes.TrimSpace(rest)) > 0 {
		_, hosts, pub, _, r, err := ssh.ParseKnownHosts(rest)
		if err != nil {
			return nil, fmt.Errorf("known hosts: %w", err)
		}
		out = append(out, fmt.Sprintf("%s %s %s", strings.Join(hosts, ","), pub.Type(), ssh.FingerprintSHA256(pub)))
		rest = r
	}
	return out, nil
}

// ScanHostKeys asks the SSH server of a repository URL for its host keys
// (ssh-keyscan) and returns them as known_hosts lines. Nothing is
// authenticated: whoever answers now is trusted from then on (trust on
// first use).
func ScanHostKeys(ctx context.Context, repoURL string) (string, error) {
	host, port, ok := Endpoint(repoURL)
	if !ok {
		return "", fmt.Errorf("%q is not an SSH URL", repoURL)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ssh-keyscan", "-T", "10", "-p", port, "--", host)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		return "", fmt.Errorf("read the host keys of %s: %v: %s", net.JoinHostPort(host, port), err, strings.TrimSpace(stderr.String()))
	}
	var lines []string
	for l := range strings.SplitSeq(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("read the host keys of %s: no SSH server answered", net.JoinHostPort(host, port))
	}
	return strings.Join(lines, "\n") + "\n", nil
}
