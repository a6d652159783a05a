package bench

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// BenchmarkAttachRoundTrip: `ssh … true` into a running job through
// baton's path (the OpenSSH client, `baton ssh-proxy`, the server, the
// agent's stream and its in-process SSH server, a shell in the job's
// environment), against the same client logging into a local OpenSSH
// server (sshd, when installed) in the same run. Both use one ed25519 key
// and a pinned host key; 20 connections each, p50 and p90. The sshd
// baseline logs in as a system user made for it (removed afterwards)
// whose home has no shell start-up files, as a job's shell has none, so
// that neither side pays for a ~/.bashrc.
func BenchmarkAttachRoundTrip(b *testing.B) {
	const pipeline = "version: v1.0\nagent:\n  machine:\n    type: e1-standard-2\nblocks:\n  - task:\n      jobs:\n        - name: Hold\n          commands:\n            - echo started\n            - sleep 600\n"
	e := serviceEnv(b, 1, 1, pipeline)
	dir := b.TempDir()
	key := filepath.Join(dir, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		b.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		b.Fatal(err)
	}
	e.Do("POST", "/api/v1/keys", map[string]string{"name": "bench", "public_key": string(pub)}, nil, http.StatusCreated)
	wf := trigger(e)
	var job string
	e.Eventually(30*time.Second, func() bool {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+wf, nil, &w)
		for _, j := range w.Jobs() {
			if j.State == ci.StateRunning && strings.Contains(e.Log(j.ID), "started") {
				job = j.ID
			}
		}
		return job != ""
	}, "a running job")
	var info struct {
		Host    string `json:"host"`
		HostKey string `json:"host_key"`
	}
	e.Do("GET", "/api/v1/jobs/"+job+"/ssh", nil, &info)
	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(known, []byte(info.Host+" "+info.HostKey+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	common := []string{"-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile=" + known, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR",
		// The key exchange both servers offer: OpenSSH's client prefers
		// sntrup761x25519, which costs it ~75 ms of CPU, and Go's SSH
		// server does not offer it.
		"-o", "KexAlgorithms=curve25519-sha256"}
	baton := append(append([]string{}, common...), "-o", "ProxyCommand="+testenv.BatonBinary(b)+" ssh-proxy --server "+e.URL+" "+job, "baton@"+info.Host, "true")
	env := append(os.Environ(), "BATON_TOKEN="+e.Token)

	var sshd []string
	if port, user, ok := startSSHD(b, dir, string(pub), known); ok {
		sshd = append(append([]string{}, common...), "-p", strconv.Itoa(port), user+"@127.0.0.1", "true")
	}
	roundTrips := func(args []string) []time.Duration {
		var ds []time.Duration
		for range 20 {
			cmd := exec.Command("ssh", args...)
			cmd.Env = env
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("ssh %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			ds = append(ds, time.Since(start))
		}
		return ds
	}
	for b.Loop() {
		ds := roundTrips(baton)
		b.ReportMetric(float64(percentile(ds, 0.5).Microseconds())/1000, "ms-p50/baton")
		b.ReportMetric(float64(percentile(ds, 0.9).Microseconds())/1000, "ms-p90/baton")
		if sshd != nil {
			ds := roundTrips(sshd)
			b.ReportMetric(float64(percentile(ds, 0.5).Microseconds())/1000, "ms-p50/sshd")
			b.ReportMetric(float64(percentile(ds, 0.9).Microseconds())/1000, "ms-p90/sshd")
		}
	}
}

// startSSHD starts a local OpenSSH server on a free loopback port that
// accepts pub for a user of its own, and adds its host key to known; false
// when sshd is not installed or this is not root.
func startSSHD(b *testing.B, dir, pub, known string) (int, string, bool) {
	b.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil || os.Getuid() != 0 {
		b.Log("needs root and /usr/sbin/sshd (Debian: openssh-server): no baseline")
		return 0, "", false
	}
	const user = "baton-bench"
	// The user's home holds authorized_keys, which sshd reads as that
	// user: not under the test's private temporary directory.
	home, err := os.MkdirTemp("", "baton-bench-home-")
	if err == nil {
		err = os.Chmod(home, 0o755)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(home) })
	if out, err := exec.Command("useradd", "--system", "--password", "*", "--home-dir", home, "--shell", "/bin/bash", user).CombinedOutput(); err != nil {
		b.Fatalf("useradd: %v\n%s", err, out)
	}
	b.Cleanup(func() { exec.Command("userdel", user).Run() })
	hostKey := filepath.Join(dir, "host")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		b.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	auth := filepath.Join(home, "authorized_keys")
	config := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(auth, []byte(pub), 0o644); err != nil {
		b.Fatal(err)
	}
	conf := "ListenAddress 127.0.0.1\nPort " + strconv.Itoa(port) + "\nHostKey " + hostKey + "\nAuthorizedKeysFile " + auth +
		"\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nPidFile none\nPrintMotd no\nPrintLastLog no\n"
	if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", config)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	hk, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(known, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	f.WriteString("[127.0.0.1]:" + strconv.Itoa(port) + " " + string(hk))
	f.Close()
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return port, user, true
		}
		if i > 100 {
			b.Fatal("sshd did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
