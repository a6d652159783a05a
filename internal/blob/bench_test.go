package blob_test

import (
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/testenv"
)

const benchSize = 100 << 20

// BenchmarkPutGet100MiB stores and reads back a 100 MiB file: the local
// directory and the S3 backend (against versitygw on loopback) against,
// in the same run, cp of the file and dd with fsync (local baselines:
// Dir.Put fsyncs) and minio-go's own
// FPutObject/FGetObject of it (S3 baseline: the same client, size known).
//
//	go test -run '^$' -bench PutGet100MiB -benchtime 3x ./internal/blob/
func BenchmarkPutGet100MiB(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, benchSize); err != nil {
		b.Fatal(err)
	}
	f.Close()
	local, err := blob.OpenDir(filepath.Join(dir, "store"))
	if err != nil {
		b.Fatal(err)
	}
	defer local.Close()
	srv := testenv.StartS3(b)
	s3, err := blob.NewS3(blob.S3Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Prefix: "bench", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	client := srv.Client(b)

	put := func(b *testing.B, s blob.Store) {
		for b.Loop() {
			f, err := os.Open(src)
			if err != nil {
				b.Fatal(err)
			}
			// Hide the file's size: the store must stream.
			if _, err := s.Put(b.Context(), "object", struct{ io.Reader }{f}); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	}
	get := func(b *testing.B, s blob.Store) {
		for b.Loop() {
			rc, err := s.Get(b.Context(), "object", blob.Range{})
			if err != nil {
				b.Fatal(err)
			}
			out, err := os.Create(filepath.Join(dir, "out"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(out, rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
			out.Close()
		}
	}
	cp := func(b *testing.B, from, to string) {
		for b.Loop() {
			if out, err := exec.Command("cp", from, to).CombinedOutput(); err != nil {
				b.Fatalf("cp: %v %s", err, out)
			}
		}
	}
	run := func(name string, fn func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(benchSize)
			fn(b)
		})
	}
	run("put/cp", func(b *testing.B) { cp(b, src, filepath.Join(dir, "copy")) })
	run("put/dd-fsync", func(b *testing.B) {
		// cp that also fsyncs, as Dir.Put does before its rename.
		for b.Loop() {
			if out, err := exec.Command("dd", "if="+src, "of="+filepath.Join(dir, "copy"), "bs=1M", "conv=fsync", "status=none").CombinedOutput(); err != nil {
				b.Fatalf("dd: %v %s", err, out)
			}
		}
	})
	run("put/dir", func(b *testing.B) { put(b, local) })
	run("put/s3-minio-direct", func(b *testing.B) {
		for b.Loop() {
			if _, err := client.FPutObject(b.Context(), srv.Bucket, "direct", src, minio.PutObjectOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	run("put/s3", func(b *testing.B) { put(b, s3) })
	run("get/cp", func(b *testing.B) { cp(b, filepath.Join(dir, "copy"), filepath.Join(dir, "out")) })
	run("get/dir", func(b *testing.B) { get(b, local) })
	run("get/s3-minio-direct", func(b *testing.B) {
		for b.Loop() {
			if err := client.FGetObject(b.Context(), srv.Bucket, "direct", filepath.Join(dir, "out"), minio.GetObjectOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	run("get/s3", func(b *testing.B) { get(b, s3) })
}
