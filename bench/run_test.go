package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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
// cmdRun is what one run of a command cost: wall time, CPU time (user and
// system, of the command and the processes it waited for: on a loaded
// machine the steadier measure) and peak RSS in MiB.
type cmdRun struct {
	wall, cpu time.Duration
	rssMiB    float64
}

// runCmd runs a command in dir with its standard output read from a pipe
// by this process, and returns what it cost.
func runCmd(b *testing.B, dir string, name string, args ...string) cmdRun {
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
	return cmdRun{
		wall:   time.Since(start),
		cpu:    cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		rssMiB: float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024,
	}
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
		t500 += runCmd(b, dir, bin, "run").wall
		t1 += runCmd(b, dir, bin, "run", "one.yml").wall
		tBash += runCmd(b, dir, "bash", "-c", script).wall
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
		tb += runCmd(b, dir, bin, "run").wall
		ts += runCmd(b, dir, "bash", "run.sh").wall
	}
	n := float64(b.N)
	b.ReportMetric(float64(tb.Microseconds())/n/1000, "baton-ms")
	b.ReportMetric(float64(ts.Microseconds())/n/1000, "bash-script-ms")
}

// BenchmarkMillionLines: a command printing 1,000,000 lines, through baton
// run and through bare bash, both read by this process from a pipe; peak
// RSS of baton for 1M lines vs 10k lines shows whether memory stays flat.
// The output's own cost is the 1M-line run minus a 1-line run (start-up,
// snapshot, workspace), in wall time and in CPU time, against bare bash.
//
// BATON_BENCH_BEFORE names another baton binary (say, built from the
// commit before a change) that is run the same way in the same loop, so
// that before and after are measured back to back on a shared machine.
//
// On a loaded machine single runs swing by 2x, so the -median metrics
// are the medians over the iterations of each iteration's own output cost
// (its 1M-line run minus its 1-line run) against the median bash run.
// BATON_BENCH_LINES sets another number of lines (10000000 makes the
// output's cost dwarf the 80 ms of a run's start).
func BenchmarkMillionLines(b *testing.B) {
	bins := map[string]string{"": baton(b)}
	if before := os.Getenv("BATON_BENCH_BEFORE"); before != "" {
		bins["before-"] = before
	}
	lines := 1000000
	if n, err := strconv.Atoi(os.Getenv("BATON_BENCH_LINES")); err == nil && n > 0 {
		lines = n
	}
	job := func(n int) string {
		return pipelineYAML(fmt.Sprintf("  - task:\n      jobs:\n        - name: Print\n          commands:\n            - seq %d\n", n))
	}
	dir := repo(b, map[string]string{".semaphore/semaphore.yml": job(lines), "small.yml": job(10000), "empty.yml": job(1)})
	type sums struct {
		big, empty       cmdRun
		rssBig, rssSmall float64
		// outWall and outCPU are each iteration's output cost.
		outWall, outCPU []time.Duration
	}
	got := map[string]*sums{}
	for name := range bins {
		got[name] = &sums{}
	}
	var bash cmdRun
	var bashWall, bashCPU []time.Duration
	add := func(to *cmdRun, r cmdRun) {
		to.wall += r.wall
		to.cpu += r.cpu
	}
	for b.Loop() {
		for name, bin := range bins {
			s := got[name]
			r := runCmd(b, dir, bin, "run")
			add(&s.big, r)
			s.rssBig = max(s.rssBig, r.rssMiB)
			s.rssSmall = max(s.rssSmall, runCmd(b, dir, bin, "run", "small.yml").rssMiB)
			e := runCmd(b, dir, bin, "run", "empty.yml")
			add(&s.empty, e)
			s.outWall = append(s.outWall, r.wall-e.wall)
			s.outCPU = append(s.outCPU, r.cpu-e.cpu)
		}
		r := runCmd(b, dir, "bash", "-c", fmt.Sprintf("seq %d", lines))
		add(&bash, r)
		bashWall, bashCPU = append(bashWall, r.wall), append(bashCPU, r.cpu)
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / n / 1000 }
	b.ReportMetric(ms(bash.wall), "bash-ms")
	b.ReportMetric(ms(bash.cpu), "bash-cpu-ms")
	for name, s := range got {
		b.ReportMetric(ms(s.big.wall), name+"baton-ms")
		b.ReportMetric(ms(s.empty.wall), name+"baton-1line-ms")
		b.ReportMetric(float64(s.big.wall)/float64(bash.wall), name+"ratio")
		b.ReportMetric(float64(s.big.wall-s.empty.wall)/float64(bash.wall), name+"output-ratio")
		b.ReportMetric(ms(s.big.cpu), name+"baton-cpu-ms")
		b.ReportMetric(ms(s.empty.cpu), name+"baton-1line-cpu-ms")
		b.ReportMetric(float64(s.big.cpu-s.empty.cpu)/float64(bash.cpu), name+"output-cpu-ratio")
		b.ReportMetric(float64(median(s.outWall))/float64(median(bashWall)), name+"output-ratio-median")
		b.ReportMetric(float64(median(s.outCPU))/float64(median(bashCPU)), name+"output-cpu-ratio-median")
		b.ReportMetric(s.rssBig, name+"baton-1M-rss-MiB")
		b.ReportMetric(s.rssSmall, name+"baton-10k-rss-MiB")
	}
}

// median is the middle value of ds (sorted in place).
func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}
