// Package probe lets tests check what they depend on and wait for what they
// expect. Require skips a test whose outside dependency (Docker, PostgreSQL,
// Chromium, an S3 server, root) is missing, and fails it when CI=true, where
// every dependency is part of the set-up; Eventually polls a condition until
// a deadline and says what it last saw. It imports nothing of Baton, so the
// tests of every package, the store's and the dispatcher's included, can use
// it.
package probe

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// TB is the part of testing.TB that Require and Missing use; test-script
// adapters implement it too.
type TB interface {
	FailTB
	Skip(args ...any)
}

// FailTB is the part of testing.TB that Eventually uses.
type FailTB interface {
	Helper()
	Fatal(args ...any)
}

// The dependencies Require knows.
const (
	// Docker is a Docker daemon holding the test images that
	// scripts/docker-setup.sh builds.
	Docker = "docker"
	// DockerRegistry is the docker-registry binary (Debian's
	// docker-registry package).
	DockerRegistry = "docker-registry"
	// Postgres is the PostgreSQL test server named by BATON_TEST_POSTGRES
	// (default DefaultPostgres).
	Postgres = "postgres"
	// Chromium is a headless-capable Chromium ($BATON_CHROMIUM,
	// /usr/bin/chromium or on PATH).
	Chromium = "chromium"
	// S3 is the versitygw binary, an S3-compatible server
	// ($BATON_VERSITYGW, PATH or ~/go/bin).
	S3 = "s3"
	// Root is running as root (jobs then run as job users).
	Root = "root"
)

// DefaultPostgres is the test server used when BATON_TEST_POSTGRES is
// empty.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable"

// InCI reports whether the tests run in CI (CI=true), where a missing
// dependency is a failure rather than a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips the test unless every named dependency is there; in CI it
// fails the test instead. Each dependency is checked once per process.
func Require(t TB, deps ...string) {
	t.Helper()
	for _, d := range deps {
		check, ok := checks[d]
		if !ok {
			t.Fatal(fmt.Sprintf("probe.Require: unknown dependency %q", d))
			return
		}
		if err := check(); err != nil {
			Missing(t, "%s", err)
			return
		}
	}
}

// Missing skips the test because something it needs is missing, or fails
// it when CI=true.
func Missing(t TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatal(msg + " (CI=true: this test must run)")
		return
	}
	t.Skip(msg)
}

var checks = map[string]func() error{
	Docker:         sync.OnceValue(checkDocker),
	DockerRegistry: sync.OnceValue(checkDockerRegistry),
	Postgres:       sync.OnceValue(checkPostgres),
	Chromium:       sync.OnceValue(checkChromium),
	S3:             sync.OnceValue(checkS3),
	Root:           checkRoot,
}

func checkDocker() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "baton-test/debian", "baton-test/busybox").CombinedOutput()
	if err != nil {
		return fmt.Errorf("no Docker or no test images (run scripts/docker-setup.sh): %v: %s", err, firstLine(out))
	}
	return nil
}

func checkDockerRegistry() error {
	if _, err := exec.LookPath("docker-registry"); err != nil {
		return fmt.Errorf("no docker-registry (apt-get install docker-registry): %v", err)
	}
	return nil
}

func checkPostgres() error {
	dsn := PostgresDSN()
	db, err := sql.Open("pgx", dsn)
	if err == nil {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = db.PingContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("PostgreSQL at BATON_TEST_POSTGRES (default %s) is not reachable: %v", DefaultPostgres, err)
	}
	return nil
}

func checkChromium() error {
	if ChromiumPath() == "" {
		return errors.New("no Chromium at $BATON_CHROMIUM, /usr/bin/chromium or on PATH (apt-get install -y chromium)")
	}
	return nil
}

func checkS3() error {
	if VersitygwPath() == "" {
		return errors.New("versitygw is not installed (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
	}
	return nil
}

func checkRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (CI runs as root)")
	}
	return nil
}

// PostgresDSN is the test server's maintenance database:
// $BATON_TEST_POSTGRES, or DefaultPostgres.
func PostgresDSN() string {
	if dsn := os.Getenv("BATON_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return DefaultPostgres
}

// ChromiumPath finds Chromium: $BATON_CHROMIUM, /usr/bin/chromium, then
// PATH; "" when there is none.
func ChromiumPath() string {
	candidates := []string{os.Getenv("BATON_CHROMIUM"), "/usr/bin/chromium"}
	if p, err := exec.LookPath("chromium"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// VersitygwPath finds the versitygw binary: $BATON_VERSITYGW, then PATH,
// then ~/go/bin; "" when there is none.
func VersitygwPath() string {
	if p := os.Getenv("BATON_VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, "go", "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
	return strings.TrimSpace(string(line))
}

// Eventually calls cond until it returns nil, and fails the test when it
// still returns an error after within, with that last error: say in it what
// was seen ("job state queued, want running"). It polls often at first,
// then every 50 ms. Under testing/synctest it waits in the bubble's time.
func Eventually(t FailTB, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	pause := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprintf("not so after %v: %v", within, err))
			return
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}
