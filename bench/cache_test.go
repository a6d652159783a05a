package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// cacheBenchPipeline stores a 200 MiB key (100 files of 2 MiB of random
// bytes: the archive is as large) on branch store; on branch restore it
// times `cache restore` from the server (the agent has no copy), then 3
// restores from the agent's copy.
const cacheBenchPipeline = `version: v1.0
name: Cache bench
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Cache
    task:
      jobs:
        - name: Job
          commands:
            - |
              case "$SEMAPHORE_GIT_BRANCH" in
              store)
                mkdir -p data && for i in $(seq 100); do head -c 2097152 /dev/urandom > data/f$i; done
                cache store big data;;
              restore)
                s=$(date +%s%N); cache restore big >/dev/null; t=$(date +%s%N); echo "remote-ns=$((t-s))"
                for i in 1 2 3; do rm -rf data; s=$(date +%s%N); cache restore big >/dev/null; t=$(date +%s%N); echo "local-ns=$((t-s))"; done
                echo "bytes=$(cat data/f* | wc -c)";;
              esac
`

// BenchmarkCacheRestore200MiB compares `cache restore` of a 200 MiB key
// with its baselines, in the same run, through a server on the S3
// backend (versitygw): from the agent's copy against `tar -xzf` of the
// same archive, and from the object storage (the agent has no copy)
// against a direct download of the object with minio-go piped into
// `tar -xz`; and, as a floor, `tar -xf` of the archive uncompressed. Run
// it with -benchtime 1x: each iteration is 3 rounds.
func BenchmarkCacheRestore200MiB(b *testing.B) {
	s3 := testenv.StartS3(b)
	e := testenv.Start(b, testenv.Options{Storage: blob.Config{URL: s3.URL("baton"), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}})
	agent := e.StartAgent(b, "bench", "e1-standard-2", 1)
	repo := testenv.NewRepo(b, map[string]string{".semaphore/semaphore.yml": cacheBenchPipeline})
	repo.Git("branch", "store")
	repo.Git("branch", "restore")
	e.Do("POST", "/api/v1/projects", map[string]any{"name": "bench", "repo_url": repo.URL(), "default_branch": "main"}, nil, http.StatusCreated)
	runJob := func(branch string) string {
		var wf ci.Workflow
		e.Do("POST", "/api/v1/projects/bench/workflows", map[string]any{"branch": branch}, &wf, http.StatusCreated)
		w := e.WaitWorkflow(wf.ID, 5*time.Minute)
		log := e.Log(w.Jobs()["Cache/Job"].ID)
		if w.Result != ci.ResultPassed {
			b.Fatalf("%s: %s\n%s", branch, w.Result, log)
		}
		return log
	}
	runJob("store")
	client := s3.Client(b)
	var object string
	for o := range client.ListObjects(context.Background(), s3.Bucket, minio.ListObjectsOptions{Prefix: "baton/cache/", Recursive: true}) {
		if o.Err != nil {
			b.Fatal(o.Err)
		}
		object = o.Key
	}
	if object == "" {
		b.Fatal("no cache object in the bucket")
	}
	copies := filepath.Join(agent.DataDir, "cache-copies")
	scratch := b.TempDir()
	untar := func(src func(*exec.Cmd)) time.Duration {
		dir := filepath.Join(scratch, "x")
		os.RemoveAll(dir)
		os.MkdirAll(dir, 0o755)
		cmd := exec.Command("tar", "-x", "-C", dir)
		src(cmd)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("tar: %v\n%s", err, out)
		}
		return time.Since(start)
	}
	var remote, local, tarLocal, tarRemote, tarPlain []time.Duration
	b.ResetTimer()
	for range b.N {
		for range 3 {
			os.RemoveAll(copies) // the next restore downloads
			log := runJob("restore")
			if !strings.Contains(log, "bytes=209715200") {
				b.Fatalf("restore did not restore 200 MiB:\n%s", log)
			}
			for l := range strings.SplitSeq(log, "\n") {
				k, v, ok := strings.Cut(strings.TrimSpace(l), "-ns=")
				n, err := strconv.ParseInt(v, 10, 64)
				if !ok || err != nil {
					continue
				}
				switch k {
				case "remote":
					remote = append(remote, time.Duration(n))
				case "local":
					local = append(local, time.Duration(n))
				}
			}
			files, _ := filepath.Glob(filepath.Join(copies, "*", "*"))
			if len(files) != 1 {
				b.Fatalf("the agent's copies: %v, want one", files)
			}
			tarLocal = append(tarLocal, untar(func(c *exec.Cmd) { c.Args = append(c.Args, "-z", "-f", files[0]) }))
			// The floor: the same archive uncompressed, without gzip.
			plain := filepath.Join(scratch, "plain.tar")
			if out, err := exec.Command("sh", "-c", "gzip -dc < "+files[0]+" > "+plain).CombinedOutput(); err != nil {
				b.Fatalf("gunzip: %v\n%s", err, out)
			}
			tarPlain = append(tarPlain, untar(func(c *exec.Cmd) { c.Args = append(c.Args, "-f", plain) }))
			os.Remove(plain)
			tarRemote = append(tarRemote, untar(func(c *exec.Cmd) {
				obj, err := client.GetObject(context.Background(), s3.Bucket, object, minio.GetObjectOptions{})
				if err != nil {
					b.Fatal(err)
				}
				c.Args = append(c.Args, "-z")
				c.Stdin = obj
			}))
		}
	}
	b.StopTimer()
	if len(remote) != 3*b.N || len(local) != 9*b.N {
		b.Fatalf("measures: %d remote, %d local", len(remote), len(local))
	}
	med := func(ds []time.Duration) time.Duration { return percentile(ds, 0.5) }
	b.ReportMetric(float64(med(local))/1e6, "local-ms")
	b.ReportMetric(float64(med(tarLocal))/1e6, "tar-x-ms")
	b.ReportMetric(float64(med(remote))/1e6, "remote-ms")
	b.ReportMetric(float64(med(tarRemote))/1e6, "get+tar-x-ms")
	b.ReportMetric(float64(med(local))/float64(med(tarLocal)), "local/tar")
	b.ReportMetric(float64(med(remote))/float64(med(tarRemote)), "remote/get+tar")
	b.ReportMetric(float64(med(tarPlain))/1e6, "tar-x-plain-ms")
	b.Logf("from the agent's copy: %s; tar -xzf: %s; tar -xf of it uncompressed: %s", fmtDurations(local), fmtDurations(tarLocal), fmtDurations(tarPlain))
	b.Logf("from the object storage: %s; minio-go GetObject | tar -xz: %s", fmtDurations(remote), fmtDurations(tarRemote))
}

func fmtDurations(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%.0f", float64(d)/1e6))
	}
	return strings.Join(s, "/") + " ms"
}
