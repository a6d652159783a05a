package blob_test

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/testenv"
)

// slowReader yields n bytes, then blocks until release is closed, then
// keeps yielding.
type slowReader struct {
	n       int64
	reached chan struct{}
	release chan struct{}
	sent    int64
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.sent >= s.n && s.reached != nil {
		close(s.reached)
		s.reached = nil
		<-s.release
	}
	for i := range p {
		p[i] = 'x'
	}
	s.sent += int64(len(p))
	return len(p), nil
}

// TestS3ServerKilledMidUpload kills the storage while a large upload is
// in flight: the Put fails with an error naming the key, and once the
// storage is back the object is not there, whole or in part.
func TestS3ServerKilledMidUpload(t *testing.T) {
	srv := testenv.StartS3(t)
	s, err := blob.NewS3(blob.S3Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Prefix: "fault", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	reached, release := make(chan struct{}), make(chan struct{})
	r := &slowReader{n: 20 << 20, reached: reached, release: release}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Put(t.Context(), "big/object", io.LimitReader(r, 100<<20))
		errc <- err
	}()
	select {
	case <-reached:
	case err := <-errc:
		t.Fatalf("put ended early: %v", err)
	}
	srv.Kill()
	close(release)
	select {
	case err = <-errc:
	case <-time.After(60 * time.Second):
		t.Fatal("put did not fail within 60 s of the storage dying")
	}
	if err == nil {
		t.Fatal("put succeeded with the storage killed")
	}
	if !strings.Contains(err.Error(), "put big/object") {
		t.Errorf("error does not name the key: %v", err)
	}
	t.Logf("error: %v", err)
	srv.Start(t)
	if _, err := s.Stat(t.Context(), "big/object"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("stat after the failed upload: %v, want ErrNotFound", err)
	}
	for info, err := range s.List(t.Context(), "") {
		t.Errorf("object visible after the failed upload: %+v %v", info, err)
	}
}

func TestOpen(t *testing.T) {
	srv := testenv.StartS3(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	for _, tc := range []struct {
		name, url, access, secret, wantErr string
	}{
		{name: "default under the data directory", url: ""},
		{name: "file", url: "file://" + filepath.Join(data, "elsewhere")},
		{name: "s3", url: srv.URL("prefix"), access: srv.AccessKey, secret: srv.SecretKey},
		{name: "relative file", url: "file://relative/path", wantErr: "a file URL has no host"},
		{name: "file options", url: "file:///tmp/x?endpoint=y", wantErr: "takes no options"},
		{name: "unknown scheme", url: "gs://bucket", wantErr: `unknown scheme "gs"`},
		{name: "credentials in URL", url: "s3://key:secret@bucket?endpoint=" + srv.Endpoint, wantErr: "credentials do not belong in the URL"},
		{name: "bad bucket", url: "s3://Bad_Bucket?endpoint=" + srv.Endpoint, wantErr: "bucket name"},
		{name: "unknown option", url: srv.URL("p") + "&regoin=x", wantErr: `unknown option "regoin"`},
		{name: "bad endpoint", url: "s3://bucket?endpoint=ftp://host", wantErr: "want http://HOST:PORT"},
		{name: "no credentials", url: srv.URL("p"), wantErr: "no S3 credentials"},
		{name: "missing bucket", url: "s3://no-such-bucket?endpoint=" + srv.Endpoint, access: srv.AccessKey, secret: srv.SecretKey, wantErr: "bucket no-such-bucket does not exist"},
		{name: "wrong secret", url: srv.URL("p"), access: srv.AccessKey, secret: "wrong", wantErr: "access denied"},
		{name: "unreachable", url: "s3://bucket?endpoint=" + closed, access: "some-access", secret: "some-secret-value", wantErr: "object storage unavailable: connect: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := blob.Open(t.Context(), blob.Config{URL: tc.url, DataDir: data, AccessKey: tc.access, SecretKey: tc.secret})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				b.Close()
				return
			}
			if err == nil {
				b.Close()
				t.Fatalf("opened %s", tc.url)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "storage ") {
				t.Fatalf("error %q, want it to start with \"storage URL\" and contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "secret@") || (tc.secret != "" && strings.Contains(err.Error(), tc.secret)) {
				t.Fatalf("error reveals the secret: %v", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(data, "blobs", "objects")); err != nil {
		t.Errorf("default store not under DATA/blobs: %v", err)
	}
}

func TestParseCredentials(t *testing.T) {
	for _, tc := range []struct{ name, in, access, secret, wantErr string }{
		{name: "aws file", in: "[other]\naws_access_key_id = no\n[default]\naws_access_key_id = AK\naws_secret_access_key = SK\n", access: "AK", secret: "SK"},
		{name: "env style", in: "# comment\nAWS_ACCESS_KEY_ID=AK\nAWS_SECRET_ACCESS_KEY=\"SK\"\n", access: "AK", secret: "SK"},
		{name: "missing secret", in: "AWS_ACCESS_KEY_ID=AK\n", wantErr: "want aws_access_key_id and aws_secret_access_key"},
		{name: "garbage", in: "just words\n", wantErr: "line 1: want KEY=VALUE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, s, err := blob.ParseCredentials(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || a != tc.access || s != tc.secret {
				t.Fatalf("got %q %q %v", a, s, err)
			}
		})
	}
}
