package testenv

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/batonci/baton/internal/testenv/probe"
)

// S3Server is a real S3-compatible server (versitygw on a POSIX
// directory) on a loopback port, with one bucket.
type S3Server struct {
	// Endpoint is http://127.0.0.1:PORT.
	Endpoint  string
	AccessKey string
	SecretKey string
	Bucket    string
	// Dir is the directory the server keeps buckets in.
	Dir  string
	bin  string
	addr string
	cmd  *exec.Cmd
	exit chan struct{}
}

// SkipTB is a TB that can skip.
type SkipTB interface {
	TB
	Skip(args ...any)
}

// StartS3 starts versitygw on a free loopback port, waits until it
// answers and creates a bucket; it stops at the end of the test. Without
// the binary the test is skipped, or fails when CI=true.
func StartS3(t SkipTB) *S3Server {
	t.Helper()
	probe.Require(t, probe.S3)
	bin := probe.VersitygwPath()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &S3Server{
		Endpoint: "http://" + addr, AccessKey: "baton-test-access", SecretKey: "baton-test-secret-" + strconv.Itoa(os.Getpid()),
		Bucket: "baton-test", Dir: t.TempDir(), bin: bin, addr: addr,
	}
	s.Start(t)
	t.Cleanup(s.Kill)
	c := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return s
}

// Start (re)starts the server on its address and directory and waits
// until it answers.
func (s *S3Server) Start(t TB) {
	t.Helper()
	cmd := exec.Command(s.bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--port", s.addr, "--quiet", "posix", s.Dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	s.cmd, s.exit = cmd, make(chan struct{})
	exit := s.exit
	go func() {
		cmd.Wait()
		close(exit)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-exit:
			t.Fatalf("versitygw exited before answering: %v", cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Kill()
			t.Fatalf("versitygw did not answer on %s within 20 s", s.addr)
		}
	}
}

// Kill stops the server abruptly (SIGKILL) and waits for it.
func (s *S3Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exit
	s.cmd = nil
}

// URL is the --storage URL of the bucket under prefix.
func (s *S3Server) URL(prefix string) string {
	return "s3://" + s.Bucket + "/" + prefix + "?endpoint=" + s.Endpoint
}

// Client is a plain S3 client of the server.
func (s *S3Server) Client(t TB) *minio.Client {
	t.Helper()
	c, err := minio.New(s.addr, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
