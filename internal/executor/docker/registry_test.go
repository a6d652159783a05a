package docker

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/testenv/probe"
)

// registry is a docker-registry process (Debian's docker-registry
// package) on a free loopback port; dockerd treats 127.0.0.0/8 registries
// as insecure (plain HTTP) by default.
type registry struct {
	Host string // 127.0.0.1:PORT
}

// registryOptions shape a test registry.
type registryOptions struct {
	// User and Password, when set, require a login (htpasswd).
	User, Password string
	// Proxy, when set, makes it a pull-through cache of that registry URL.
	Proxy string
}

// startRegistry starts a registry for the test, or skips it (fails it in
// CI) when docker-registry is not installed.
func startRegistry(tb testing.TB, o registryOptions) *registry {
	tb.Helper()
	probe.Require(tb, probe.DockerRegistry)
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	dir := tb.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), host)
	if o.User != "" {
		out, err := exec.Command("htpasswd", "-Bbn", o.User, o.Password).Output()
		if err != nil {
			tb.Fatalf("htpasswd (apache2-utils): %v", err)
		}
		pw := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(pw, out, 0o600); err != nil {
			tb.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: baton-test\n    path: %s\n", pw)
	}
	if o.Proxy != "" {
		cfg += fmt.Sprintf("proxy:\n  remoteurl: %s\n", o.Proxy)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	probe.Eventually(tb, 10*time.Second, func() error {
		resp, err := http.Get("http://" + host + "/v2/")
		if err != nil {
			return fmt.Errorf("registry on %s did not start: %v\n%s", host, err, logs.String())
		}
		resp.Body.Close()
		return nil
	})
	return &registry{Host: host}
}

// dockerRun runs the docker client with args, failing the test on error.
func dockerRun(tb testing.TB, env []string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("docker", args...)
	if env != nil {
		cmd.Env = env
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pushUnique pushes an image of the test's own (busybox with a unique
// layer) to the registry as name, logged in when user is set, and removes
// it locally: pulling it again must go to the registry.
func pushUnique(tb testing.TB, r *registry, name, user, password string) {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "id"), []byte(name+newID()), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+busyboxImage+"\nCOPY id /id\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	remote := r.Host + "/" + name
	dockerRun(tb, nil, "build", "-q", "-t", remote, dir)
	var env []string
	if user != "" {
		env = append(os.Environ(), "DOCKER_CONFIG="+tb.TempDir())
		cmd := exec.Command("docker", "login", "--username", user, "--password-stdin", r.Host)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(password)
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("docker login: %v\n%s", err, out)
		}
	}
	dockerRun(tb, env, "push", "-q", remote)
	dockerRun(tb, nil, "rmi", remote)
	tb.Cleanup(func() { exec.Command("docker", "rmi", "-f", remote, name).Run() })
}

func TestPullThroughMirror(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	mirror := startRegistry(t, registryOptions{})
	// A Docker Hub name: the mirror serves it as <mirror>/<name>.
	name := "baton-mirror-test-" + newID() + "/busybox:1"
	pushUnique(t, mirror, name, "", "")
	agent := "test-mirror-" + newID()
	var used []string
	e := New(Options{GracePeriod: time.Second, AgentID: agent, Mirror: mirror.Host, ImageUsed: func(im string) { used = append(used, im) }})
	var log strings.Builder
	s, err := e.Start(t.Context(), executor.SessionConfig{
		Dir: t.TempDir(),
		Containers: []executor.Container{
			{Name: "main", Image: debianImage},
			{Name: "svc", Image: name, Command: "sleep 1000"},
		},
		Log: &log,
	})
	if err != nil {
		t.Fatalf("Start: %v\n%s", err, log.String())
	}
	s.Close()
	if want := "Image " + name + ": pulled through mirror " + mirror.Host; !strings.Contains(log.String(), want) {
		t.Errorf("log %q lacks %q", log.String(), want)
	}
	// The image is known by its own name, and only by it.
	if err := exec.Command("docker", "image", "inspect", name).Run(); err != nil {
		t.Errorf("image %s not present by its own name after the pull: %v", name, err)
	}
	if err := exec.Command("docker", "image", "inspect", mirror.Host+"/"+name).Run(); err == nil {
		t.Errorf("the mirror's name %s was left behind", mirror.Host+"/"+name)
	}
	if len(used) != 2 {
		t.Errorf("ImageUsed calls = %q, want both images", used)
	}
}

func TestPullWithCredentials(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	const user, password = "robot", "s3cret-registry-password"
	r := startRegistry(t, registryOptions{User: user, Password: password})
	name := "baton-cred-test-" + newID() + "/busybox:1"
	pushUnique(t, r, name, user, password)
	image := r.Host + "/" + name
	e := New(Options{GracePeriod: time.Second, AgentID: "test-creds-" + newID()})
	cs := []executor.Container{{Name: "main", Image: debianImage}, {Name: "svc", Image: image, Command: "sleep 1000"}}

	_, err := e.Start(t.Context(), executor.SessionConfig{Dir: t.TempDir(), Containers: cs})
	if err == nil || !strings.Contains(err.Error(), "pull image "+image) {
		t.Fatalf("Start without credentials: error %v, want a failed pull", err)
	}

	var log strings.Builder
	s, err := e.Start(t.Context(), executor.SessionConfig{
		Dir: t.TempDir(), Containers: cs, Log: &log,
		Credentials: []executor.RegistryCredential{{Registry: r.Host, Username: user, Password: password}},
	})
	if err != nil {
		t.Fatalf("Start with credentials: %v\n%s", err, log.String())
	}
	s.Close()
	if want := "Image " + image + ": pulled in "; !strings.Contains(log.String(), want) {
		t.Errorf("log %q lacks %q", log.String(), want)
	}

	_, err = e.Start(t.Context(), executor.SessionConfig{
		Dir: t.TempDir(), Containers: cs, PullPolicy: executor.PullAlways,
		Credentials: []executor.RegistryCredential{{Registry: r.Host, Username: user, Password: "wrong-password"}},
	})
	if err == nil || !strings.Contains(err.Error(), "log in to registry "+r.Host+" as robot") {
		t.Errorf("Start with a wrong password: error %v, want a failed login", err)
	}
}
