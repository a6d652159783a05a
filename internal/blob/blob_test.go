package blob_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/blob/blobtest"
	"github.com/batonci/baton/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestDirContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		d, err := blob.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	})
}

func TestS3Contract(t *testing.T) {
	srv := testenv.StartS3(t)
	var n atomic.Int64
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := blob.NewS3(blob.S3Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Prefix: fmt.Sprintf("contract/%d", n.Add(1)), AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
