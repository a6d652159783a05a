package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	batonBin  string
	buildErr  error
)

// baton builds the baton binary once per benchmark process.
func baton(b *testing.B) string {
	b.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "baton-bench-bin-")
		if err != nil {
			buildErr = err
			return
		}
		batonBin = filepath.Join(dir, "baton")
		out, err := exec.Command("go", "build", "-o", batonBin, "../cmd/baton").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return batonBin
}

// repo makes a git repository holding the given files, committed.
func repo(b *testing.B, files map[string]string) string {
	b.Helper()
	dir := b.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "bench"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@b", "GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@b")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// runCmd runs a command with its output drained into a pipe read by this
// process, and returns the wall time and the peak RSS of the process tree
// root in MiB.
func runCmd(b *testing.B, dir string, name string, args ...string) (time.Duration, float64) {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	d := time.Since(start)
	rss := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
	return d, rss
}

func pipelineYAML(blocks string) string {
	return "version: v1.0\nname: Bench\nagent:\n  machine:\n    type: s1-local\nblocks:\n" + blocks
}

// BenchmarkCommandOverhead: a job of 500 trivial commands through baton run,
// against a job of 1 command (so the difference is the per-command cost)
// and against the same 500 commands in one bare `bash -c`.
func BenchmarkCommandOverhead(b *testing.B) {
	bin := baton(b)
	var cmds strings.Builder
	for range 500 {
		cmds.WriteString("            - \"true\"\n")
	}
	dir := repo(b, map[string]string{
		".semaphore/semaphore.yml": pipelineYAML("  - task:\n      jobs:\n        - commands:\n" + cmds.String()),
		"one.yml":                  pipelineYAML("  - task:\n      jobs:\n        - commands:\n            - \"true\"\n"),
	})
	script := strings.TrimSuffix(strings.Repeat("true; ", 500), " ")
	var t500, t1, tBash time.Duration
	for b.Loop() {
		d, _ := runCmd(b, dir, bin, "run")
		t500 += d
		d, _ = runCmd(b, dir, bin, "run", "one.yml")
		t1 += d
		d, _ = runCmd(b, dir, "bash", "-c", script)
		tBash += d
	}
	n := float64(b.N)
	perCmd := float64(t500-t1) / n / 499 / float64(time.Millisecond)
	b.ReportMetric(float64(t500.Milliseconds())/n, "baton-500cmd-ms")
	b.ReportMetric(float64(t1.Milliseconds())/n, "baton-1cmd-ms")
	b.ReportMetric(float64(tBash.Microseconds())/n/1000, "bash-500cmd-ms")
	b.ReportMetric(perCmd, "overhead-ms/cmd")
}

// BenchmarkPipeline20Jobs4Blocks: a 20-job, 4-block pipeline of trivial
// commands, against a plain bash script running the same commands.
func BenchmarkPipeline20Jobs4Blocks(b *testing.B) {
	bin := baton(b)
	var y, script strings.Builder
	for blk := range 4 {
		fmt.Fprintf(&y, "  - name: Block %d\n    task:\n      jobs:\n", blk+1)
		for j := range 5 {
			fmt.Fprintf(&y, "        - name: Job %d\n          commands:\n            - echo block %d job %d\n", j+1, blk+1, j+1)
			fmt.Fprintf(&script, "echo block %d job %d\n", blk+1, j+1)
		}
	}
	dir := repo(b, map[string]string{".semaphore/semaphore.yml": pipelineYAML(y.String()), "run.sh": script.String()})
	var tb, ts time.Duration
	for b.Loop() {
		d, _ := runCmd(b, dir, bin, "run")
		tb += d
		d, _ = runCmd(b, dir, "bash", "run.sh")
		ts += d
	}
	n := float64(b.N)
	b.ReportMetric(float64(tb.Microseconds())/n/1000, "baton-ms")
	b.ReportMetric(float64(ts.Microseconds())/n/1000, "bash-script-ms")
}

// BenchmarkMillionLines: a command printing 1,000,000 lines, through baton
// run and through bare bash, both read by this process from a pipe; peak
// RSS of baton for 1M lines vs 10k lines shows whether memory stays flat.
func BenchmarkMillionLines(b *testing.B) {
	bin := baton(b)
	job := func(n int) string {
		return pipelineYAML(fmt.Sprintf("  - task:\n      jobs:\n        - name: Print\n          commands:\n            - seq %d\n", n))
	}
	dir := repo(b, map[string]string{".semaphore/semaphore.yml": job(1000000), "small.yml": job(10000), "empty.yml": job(1)})
	var tb, tbash, tempty time.Duration
	var rssBig, rssSmall float64
	for b.Loop() {
		d, rss := runCmd(b, dir, bin, "run")
		tb += d
		rssBig = max(rssBig, rss)
		_, rss = runCmd(b, dir, bin, "run", "small.yml")
		rssSmall = max(rssSmall, rss)
		d, _ = runCmd(b, dir, bin, "run", "empty.yml")
		tempty += d
		d, _ = runCmd(b, dir, "bash", "-c", "seq 1000000")
		tbash += d
	}
	n := float64(b.N)
	b.ReportMetric(float64(tb.Milliseconds())/n, "baton-ms")
	b.ReportMetric(float64(tempty.Milliseconds())/n, "baton-1line-ms")
	b.ReportMetric(float64(tbash.Milliseconds())/n, "bash-ms")
	b.ReportMetric(float64(tb)/float64(tbash), "ratio")
	// The output's own cost: the 1M-line run minus a 1-line run (start-up,
	// snapshot, workspace), against bare bash.
	b.ReportMetric(float64(tb-tempty)/float64(tbash), "output-ratio")
	b.ReportMetric(rssBig, "baton-1M-rss-MiB")
	b.ReportMetric(rssSmall, "baton-10k-rss-MiB")
}
