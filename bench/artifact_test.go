package bench

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// artifactBenchPipeline pushes a 200 MiB file of random bytes as a
// project artifact (branch push) or pulls it (branch pull), timing the
// toolbox command inside the job.
const artifactBenchPipeline = `version: v1.0
name: Artifact bench
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Artifact
    task:
      jobs:
        - name: Job
          commands:
            - |
              case "$SEMAPHORE_GIT_BRANCH" in
              push)
                head -c 209715200 /dev/urandom > big
                s=$(date +%s%N); artifact push project big --force >/dev/null; t=$(date +%s%N); echo "push-ns=$((t-s))";;
              pull)
                s=$(date +%s%N); artifact pull project big >/dev/null; t=$(date +%s%N); echo "pull-ns=$((t-s))"
                echo "bytes=$(wc -c < big)";;
              esac
`

// BenchmarkArtifact200MiB compares `artifact push` and `artifact pull` of
// a 200 MiB file, through the job service, the agent and a server on the
// S3 backend (versitygw), with minio-go's FPutObject and FGetObject of a
// 200 MiB file straight to the same bucket, in the same run; and reports
// the peak heap growth of the process that runs the server (and the
// agent: an upper bound for the server) during the push and the pull.
// Run it with -benchtime 1x: each iteration is 3 rounds.
func BenchmarkArtifact200MiB(b *testing.B) {
	s3 := testenv.StartS3(b)
	e := testenv.Start(b, testenv.Options{Storage: blob.Config{URL: s3.URL("baton"), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}})
	e.StartAgent(b, "bench", "e1-standard-2", 1)
	repo := testenv.NewRepo(b, map[string]string{".semaphore/semaphore.yml": artifactBenchPipeline})
	repo.Git("branch", "push")
	repo.Git("branch", "pull")
	e.Do("POST", "/api/v1/projects", map[string]any{"name": "bench", "repo_url": repo.URL(), "default_branch": "main"}, nil, http.StatusCreated)
	runJob := func(branch string) (string, uint64) {
		var wf ci.Workflow
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		peak := peakHeap()
		e.Do("POST", "/api/v1/projects/bench/workflows", map[string]any{"branch": branch}, &wf, http.StatusCreated)
		w := e.WaitWorkflow(wf.ID, 5*time.Minute)
		top := peak()
		log := e.Log(w.Jobs()["Artifact/Job"].ID)
		if w.Result != ci.ResultPassed {
			b.Fatalf("%s: %s\n%s", branch, w.Result, log)
		}
		growth := uint64(0)
		if top > base.HeapInuse {
			growth = top - base.HeapInuse
		}
		return log, growth
	}
	measure := func(log, key string) time.Duration {
		for l := range strings.SplitSeq(log, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+"-ns="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err == nil {
					return time.Duration(n)
				}
			}
		}
		b.Fatalf("no %s time in the log:\n%s", key, log)
		return 0
	}
	client := s3.Client(b)
	file := filepath.Join(b.TempDir(), "big")
	if err := writeRandom(file, 200<<20); err != nil {
		b.Fatal(err)
	}
	var push, pull, put, get []time.Duration
	var heap uint64
	b.ResetTimer()
	for range b.N {
		for range 3 {
			log, g := runJob("push")
			push = append(push, measure(log, "push"))
			heap = max(heap, g)
			log, g = runJob("pull")
			if !strings.Contains(log, "bytes=209715200") {
				b.Fatalf("pull did not pull 200 MiB:\n%s", log)
			}
			pull = append(pull, measure(log, "pull"))
			heap = max(heap, g)

			start := time.Now()
			if _, err := client.FPutObject(context.Background(), s3.Bucket, "direct/big", file, minio.PutObjectOptions{}); err != nil {
				b.Fatal(err)
			}
			put = append(put, time.Since(start))
			out := filepath.Join(b.TempDir(), "got")
			start = time.Now()
			if err := client.FGetObject(context.Background(), s3.Bucket, "direct/big", out, minio.GetObjectOptions{}); err != nil {
				b.Fatal(err)
			}
			get = append(get, time.Since(start))
			os.Remove(out)
		}
	}
	b.StopTimer()
	med := func(ds []time.Duration) time.Duration { return percentile(ds, 0.5) }
	mbps := func(d time.Duration) float64 { return 200 * 1.048576 / d.Seconds() }
	b.ReportMetric(mbps(med(push)), "push-MB/s")
	b.ReportMetric(mbps(med(put)), "fput-MB/s")
	b.ReportMetric(mbps(med(pull)), "pull-MB/s")
	b.ReportMetric(mbps(med(get)), "fget-MB/s")
	b.ReportMetric(float64(heap)/(1<<20), "peak-heap-growth-MiB")
	b.Logf("artifact push: %s; minio-go FPutObject: %s", fmtDurations(push), fmtDurations(put))
	b.Logf("artifact pull: %s; minio-go FGetObject: %s", fmtDurations(pull), fmtDurations(get))
}

// peakHeap samples the heap in use every 20 ms until the returned
// function is called, which returns the largest sample.
func peakHeap() func() uint64 {
	var mu sync.Mutex
	var top uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			mu.Lock()
			top = max(top, m.HeapInuse)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		return top
	}
}

func writeRandom(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	src, err := os.Open("/dev/urandom")
	if err != nil {
		f.Close()
		return err
	}
	defer src.Close()
	if _, err := io.CopyN(f, src, n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
