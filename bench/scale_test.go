package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testenv/probe"
)

// The scale benchmark's size, from the environment (defaults: the
// thousand-agent goal). Develop with small numbers.
func scaleSize(b *testing.B) (agents, jobs, perWorkflow int, idle time.Duration, servers []int) {
	num := func(name string, def int) int {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				b.Fatalf("%s=%q: want a positive number", name, v)
			}
			return n
		}
		return def
	}
	agents = num("BATON_SCALE_AGENTS", 1000)
	jobs = num("BATON_SCALE_JOBS", 20000)
	perWorkflow = num("BATON_SCALE_JOBS_PER_WORKFLOW", 50)
	if jobs%perWorkflow != 0 {
		b.Fatalf("BATON_SCALE_JOBS=%d is not a multiple of %d jobs per workflow", jobs, perWorkflow)
	}
	idle = time.Duration(num("BATON_SCALE_IDLE_SECONDS", 20)) * time.Second
	servers = []int{1, 2}
	if v := os.Getenv("BATON_SCALE_SERVERS"); v != "" {
		servers = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("BATON_SCALE_SERVERS=%q: want a list such as 1,2", v)
			}
			servers = append(servers, n)
		}
	}
	return
}

// BenchmarkThousandAgents: `baton server` processes (one, then two) on one
// fresh PostgreSQL database and one S3 object store, and a thousand
// simulated agents in this process that speak the agent protocol
// (internal/agentapi) over HTTP but run no shells: each job's log is one
// chunk and its result is passed.
//
// Phases, each reported: every agent registers at once; the agents idle
// (the servers' CPU and memory); every workflow is triggered while the
// agents take no jobs, then the agents take them (jobs/s from then to the
// last job done, claim latency, PostgreSQL connections and transactions
// per job); every agent's connection drops at once while jobs are queued
// (time until every agent polls again, claim latency meanwhile); then,
// with every agent idle, workflows arrive at a steady rate (each job's
// wait from queued to its agent). Every job must be handed out exactly
// once and end passed.
//
//	BATON_SCALE_AGENTS (1000), BATON_SCALE_JOBS (20000),
//	BATON_SCALE_JOBS_PER_WORKFLOW (50), BATON_SCALE_IDLE_SECONDS (20),
//	BATON_SCALE_SERVERS (1,2), BATON_SCALE_ARRIVAL_RATE (100 jobs/s),
//	BATON_SCALE_ARRIVAL_SECONDS (10), BATON_SCALE_DB_CONNS (each server's
//	--db-max-conns; its default if unset), BATON_SCALE_QUIET_SECONDS (0:
//	the servers' memory read again after that long quiet after the drain)
//
// For finding where the time goes: BATON_SCALE_PROFILE=DIR writes each
// server's CPU profile into DIR, and BATON_SCALE_STATEMENTS=1 logs each
// phase's most frequent PostgreSQL statements (see logStatements).
func BenchmarkThousandAgents(b *testing.B) {
	probe.Require(b, probe.Postgres, probe.S3)
	agents, jobs, perWorkflow, idle, servers := scaleSize(b)
	bin := baton(b)
	s3 := testenv.StartS3(b)
	creds := filepath.Join(b.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+s3.AccessKey+"\naws_secret_access_key = "+s3.SecretKey+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, n := range servers {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			for b.Loop() {
				sc := &scaleRun{b: b, bin: bin, storage: s3.URL("scale-" + randHex(4)), creds: creds,
					agents: agents, jobs: jobs, perWorkflow: perWorkflow, idle: idle}
				sc.run(n)
			}
		})
	}
}

// scaleRun is one run of BenchmarkThousandAgents.
type scaleRun struct {
	b                         *testing.B
	bin, storage, creds       string
	agents, jobs, perWorkflow int
	idle                      time.Duration
	dsn                       string
	dbName                    string
	// db is on the maintenance database (pg_stat_*), mdb on the
	// benchmark's (its application_name is excluded from the counts).
	db, mdb                *sql.DB
	servers                []*scaleServer
	adminToken, agentToken string
	sim                    *agentSim
	project                string
	workflows              int
	triggered              []string
	triggerClient          *http.Client
	maxConns               atomic.Int64
	stopConnSampler        func()
}

// benchApp names the benchmark's own connections to its database.
const benchApp = "baton-scale-bench"

type scaleServer struct {
	cmd  *exec.Cmd
	url  string
	data string
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (sc *scaleRun) run(nServers int) {
	b := sc.b
	sc.newDatabase()
	sc.triggerClient = &http.Client{Timeout: 2 * time.Minute}
	for i := 0; i < nServers; i++ {
		sc.startServer()
	}
	sc.createProject()

	// 1. Every agent registers at once, each with the server i % n.
	urls := make([]string, nServers)
	for i, s := range sc.servers {
		urls[i] = s.url
	}
	sc.sim = newAgentSim(urls, sc.agentToken, sc.agents)
	defer sc.sim.stop()
	start := time.Now()
	if err := sc.sim.registerAll(b.Context()); err != nil {
		b.Fatal(err)
	}
	registered := time.Since(start)
	sc.sim.free.Store(true)
	sc.sim.startAll()
	sc.waitPolled(start, 2*time.Minute)
	connected := time.Since(start)
	b.Logf("%d servers, %d agents: all registered in %v, all polling in %v", nServers, sc.agents, registered.Round(time.Millisecond), connected.Round(time.Millisecond))
	b.ReportMetric(connected.Seconds(), "register-all-s")

	// 2. Idle: a poll held by every agent.
	time.Sleep(3 * time.Second) // let the registrations' work settle
	sc.resetStatements()
	cpu0 := sc.cpuTimes()
	xact0 := sc.xactCommit()
	time.Sleep(sc.idle)
	cpu1 := sc.cpuTimes()
	xact1 := sc.xactCommit()
	var idleCPU, rss, pss float64
	for i := range cpu0 {
		idleCPU += (cpu1[i] - cpu0[i]) / sc.idle.Seconds()
		rss += rssMiB(sc.servers[i].cmd.Process.Pid)
		pss += pssMiB(sc.servers[i].cmd.Process.Pid)
	}
	b.Logf("idle %v: servers' CPU %.1f%% of one core, RSS %.1f MiB together (PSS %.1f MiB: the binary's shared pages counted once); %.1f PostgreSQL transactions/s; %d connections", sc.idle, 100*idleCPU, rss, pss, float64(xact1-xact0)/sc.idle.Seconds(), sc.connections())
	sc.logStatements("idle", sc.idle.Seconds(), "s")
	b.ReportMetric(100*idleCPU, "idle-cpu-%")
	b.ReportMetric(rss, "idle-rss-MiB")
	b.ReportMetric(pss, "idle-pss-MiB")

	// 3. Throughput: queue every workflow while the agents take no jobs,
	// then let them.
	sc.sim.interrupt(false) // held polls come back with free_slots 0
	sc.sim.waitPolls(sc.agents, time.Minute)
	sc.workflows = sc.jobs / sc.perWorkflow
	tStart := time.Now()
	sc.triggerWorkflows(sc.workflows)
	sc.waitQueued(sc.jobs, 10*time.Minute)
	b.Logf("%d workflows (%d jobs) triggered and queued in %v", sc.workflows, sc.jobs, time.Since(tStart).Round(time.Millisecond))
	sc.startConnSampler()
	cpuA := sc.cpuTimes()
	sc.resetStatements()
	waitsA, waitA, closedA := sc.poolStats()
	xactA := sc.xactCommit()
	gate := time.Now()
	sc.sim.interrupt(true)
	sc.waitDone(sc.jobs, 30*time.Minute)
	elapsed := sc.lastDone().Sub(gate)
	cpuB := sc.cpuTimes()
	time.Sleep(1500 * time.Millisecond) // PostgreSQL publishes its counters within a second
	xactB := sc.xactCommit()
	maxConns := sc.stopConns()
	p50, p99 := sc.sim.claimLatency(gate, time.Time{})
	var cpu []string
	var rssAfter float64
	for i := range cpuA {
		cpu = append(cpu, fmt.Sprintf("%.0f%%", 100*(cpuB[i]-cpuA[i])/elapsed.Seconds()))
		rssAfter += rssMiB(sc.servers[i].cmd.Process.Pid)
	}
	jps := float64(sc.jobs) / elapsed.Seconds()
	b.Logf("drain: %d jobs in %v = %.1f jobs/s; claim latency p50 %v p99 %v; servers' CPU %s of one core; RSS %.1f MiB together; PostgreSQL connections at most %d, %.1f transactions per job",
		sc.jobs, elapsed.Round(time.Millisecond), jps, p50, p99, strings.Join(cpu, " + "), rssAfter, maxConns, float64(xactB-xactA)/float64(sc.jobs))
	fp50, fp99 := sc.sim.requestTimes(gate)
	waitsB, waitB, closedB := sc.poolStats()
	b.Logf("drain: a finish (with the log's one chunk) answered in p50 %v p99 %v; the servers waited for a database connection %.0f times, %.1f ms per job, and closed %.0f idle ones",
		fp50, fp99, waitsB-waitsA, 1000*(waitB-waitA)/float64(sc.jobs), closedB-closedA)
	sc.logStatements("drain", float64(sc.jobs), "job")
	b.ReportMetric(jps, "jobs/s")
	b.ReportMetric(float64(p50.Microseconds())/1000, "claim-p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "claim-p99-ms")
	b.ReportMetric(float64(maxConns), "pg-conns-max")
	b.ReportMetric(float64(xactB-xactA)/float64(sc.jobs), "pg-xact/job")
	b.ReportMetric(rssAfter, "rss-after-MiB")
	if quiet := sc.quietAfter(); quiet > 0 {
		// What the servers hold once they have been quiet a while
		// (idlemem gives back what the burst left).
		time.Sleep(quiet)
		var rss float64
		for i := range sc.servers {
			rss += rssMiB(sc.servers[i].cmd.Process.Pid)
		}
		b.Logf("%v after the drain: RSS %.1f MiB together (%.1f right after it)", quiet, rss, rssAfter)
		b.ReportMetric(rss, "rss-quiet-MiB")
	}
	sc.verify(sc.jobs, sc.workflows)

	// 4. Reconnect storm: jobs are queued while no agent takes any, then
	// every agent's connection drops at once and each polls again,
	// now taking jobs.
	stormJobs := max(sc.perWorkflow, sc.jobs/10/sc.perWorkflow*sc.perWorkflow)
	sc.sim.interrupt(false)
	sc.sim.waitPolls(sc.agents, time.Minute)
	sc.triggerWorkflows(stormJobs / sc.perWorkflow)
	sc.waitQueued(stormJobs, 10*time.Minute)
	storm := time.Now()
	sc.sim.drop()
	sc.waitPolled(storm, 5*time.Minute)
	back := time.Since(storm)
	sc.waitDone(sc.jobs+stormJobs, 10*time.Minute)
	sp50, sp99 := sc.sim.claimLatency(storm, time.Time{})
	b.Logf("reconnect storm: all %d agents dropped at once; all polling again after %v; %d queued jobs claimed with latency p50 %v p99 %v, all done %v after the drop",
		sc.agents, back.Round(time.Millisecond), stormJobs, sp50, sp99, sc.lastDone().Sub(storm).Round(time.Millisecond))
	b.ReportMetric(back.Seconds(), "storm-reconnect-s")
	b.ReportMetric(float64(sp99.Microseconds())/1000, "storm-claim-p99-ms")
	sc.verify(sc.jobs+stormJobs, len(sc.triggered))

	// 5. Steady arrivals: with every agent idle, workflows arrive at a
	// rate the servers keep up with; each job's wait from queued to its
	// agent is the claim latency a user sees. (In the drain above, a
	// thousand agents wait on a backlog: their poll's wait is the
	// agents divided by the rate, Little's law, whatever the claim
	// costs.)
	rate, secs := sc.arrivals()
	arrivalJobs := int(rate*secs) / sc.perWorkflow * sc.perWorkflow
	sc.sim.waitPolls(sc.agents, time.Minute)
	arrive := time.Now()
	every := time.Duration(float64(sc.perWorkflow) / rate * float64(time.Second))
	for i := 0; i < arrivalJobs/sc.perWorkflow; i++ {
		time.Sleep(time.Until(arrive.Add(time.Duration(i) * every)))
		sc.triggerWorkflows(1)
	}
	sc.waitDone(sc.jobs+stormJobs+arrivalJobs, 10*time.Minute)
	ap50, ap99, n := sc.queuedToAgent(arrive)
	b.Logf("steady arrivals: %d jobs in workflows of %d at %.0f jobs/s; queued → at its agent p50 %v p99 %v (%d jobs)",
		arrivalJobs, sc.perWorkflow, rate, ap50, ap99, n)
	b.ReportMetric(float64(ap50.Microseconds())/1000, "arrival-claim-p50-ms")
	b.ReportMetric(float64(ap99.Microseconds())/1000, "arrival-claim-p99-ms")
	sc.verify(sc.jobs+stormJobs+arrivalJobs, len(sc.triggered))
}

// arrivals is the steady-arrival phase's rate (jobs/s) and length:
// BATON_SCALE_ARRIVAL_RATE (100), BATON_SCALE_ARRIVAL_SECONDS (10).
func (sc *scaleRun) arrivals() (rate, secs float64) {
	rate, secs = 100, 10
	for name, v := range map[string]*float64{"BATON_SCALE_ARRIVAL_RATE": &rate, "BATON_SCALE_ARRIVAL_SECONDS": &secs} {
		if e := os.Getenv(name); e != "" {
			f, err := strconv.ParseFloat(e, 64)
			if err != nil || f <= 0 {
				sc.b.Fatalf("%s=%q: want a positive number", name, e)
			}
			*v = f
		}
	}
	return rate, secs
}

// queuedToAgent returns the p50 and p99 of how long the jobs queued
// since t waited from queued to their answer reaching the agent.
func (sc *scaleRun) queuedToAgent(t time.Time) (p50, p99 time.Duration, n int) {
	rows, err := sc.measureDB().QueryContext(sc.b.Context(), "SELECT id, queued_at, started_at FROM jobs WHERE queued_at >= $1", t)
	if err != nil {
		sc.b.Fatal(err)
	}
	queued := map[string]time.Time{}
	var claimed []time.Duration
	for rows.Next() {
		var id string
		var at, started time.Time
		if err := rows.Scan(&id, &at, &started); err != nil {
			sc.b.Fatal(err)
		}
		queued[id] = at
		claimed = append(claimed, started.Sub(at))
	}
	rows.Close()
	if len(claimed) > 0 {
		sc.b.Logf("steady arrivals: queued → claimed (the servers' clock) p50 %v p99 %v", percentile(claimed, 0.5), percentile(claimed, 0.99))
	}
	sc.sim.claimsMu.Lock()
	var ds []time.Duration
	for _, c := range sc.sim.claims {
		if at, ok := queued[c.job]; ok {
			ds = append(ds, c.recv.Sub(at))
		}
	}
	sc.sim.claimsMu.Unlock()
	if len(ds) == 0 {
		sc.b.Fatalf("no job queued since %v reached an agent", t)
	}
	return percentile(ds, 0.50).Round(10 * time.Microsecond), percentile(ds, 0.99).Round(10 * time.Microsecond), len(ds)
}

// newDatabase creates a fresh PostgreSQL database, dropped afterwards.
func (sc *scaleRun) newDatabase() {
	b := sc.b
	admin, err := url.Parse(probe.PostgresDSN())
	if err != nil {
		b.Fatal(err)
	}
	adb, err := sql.Open("pgx", admin.String())
	if err != nil {
		b.Fatal(err)
	}
	sc.dbName = "baton_scale_" + randHex(6)
	if _, err := adb.ExecContext(b.Context(), "CREATE DATABASE "+sc.dbName); err != nil {
		b.Fatalf("create database: %v", err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := adb.ExecContext(ctx, "DROP DATABASE IF EXISTS "+sc.dbName+" WITH (FORCE)"); err != nil {
			b.Errorf("drop database: %v", err)
		}
		adb.Close()
	})
	u := *admin
	u.Path = "/" + sc.dbName
	sc.dsn = u.String()
	sc.db = adb // measurements read pg_stat_* of sc.dbName through the maintenance database
	sc.db.SetMaxOpenConns(2)
}

// startServer starts a `baton server` process on the database and the
// object store; the first one bootstraps.
func (sc *scaleRun) startServer() {
	b := sc.b
	data := b.TempDir()
	args := []string{"server", "--db", sc.dsn, "--data", data, "--addr", "127.0.0.1:0",
		"--storage", sc.storage, "--storage-credentials", sc.creds}
	if n := os.Getenv("BATON_SCALE_DB_CONNS"); n != "" {
		args = append(args, "--db-max-conns", n)
	}
	cmd := exec.Command(sc.bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+data)
	if dir := os.Getenv("BATON_SCALE_PROFILE"); dir != "" {
		// Each server's CPU profile, written when it stops.
		cmd.Env = append(cmd.Env, fmt.Sprintf("BATON_CPU_PROFILE=%s/server-%d.pprof", dir, len(sc.servers)))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var out strings.Builder
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		w.Close()
		if b.Failed() {
			mu.Lock()
			b.Logf("server output (tail):\n%s", tail(out.String(), 4000))
			mu.Unlock()
		}
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			if out.Len() < 1<<20 {
				out.WriteString(line + "\n")
			}
			mu.Unlock()
			select {
			case lines <- line:
			default:
			}
		}
	}()
	s := &scaleServer{cmd: cmd, data: data}
	deadline := time.After(60 * time.Second)
	for s.url == "" || (len(sc.servers) == 0 && sc.agentToken == "") {
		select {
		case line := <-lines:
			if rest, ok := strings.CutPrefix(line, "Baton server listening at "); ok {
				s.url = strings.TrimSpace(rest)
			}
			if _, rest, ok := strings.Cut(line, "--token "); ok && strings.HasPrefix(line, "Agents connect with") {
				sc.agentToken = strings.TrimSpace(rest)
			}
		case <-deadline:
			mu.Lock()
			defer mu.Unlock()
			b.Fatalf("baton server did not start:\n%s", out.String())
		}
	}
	if len(sc.servers) == 0 {
		tok, err := os.ReadFile(filepath.Join(data, "admin-token"))
		if err != nil {
			b.Fatal(err)
		}
		sc.adminToken = strings.TrimSpace(string(tok))
	}
	sc.servers = append(sc.servers, s)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// api calls the API of server i (round robin over the servers).
func (sc *scaleRun) api(i int, method, path string, body any, out any, want int) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, sc.servers[i%len(sc.servers)].url+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Token "+sc.adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := sc.triggerClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// createProject creates the project whose pipeline has perWorkflow
// trivial jobs in one block, its pipelines processed in parallel.
func (sc *scaleRun) createProject() {
	var y strings.Builder
	y.WriteString("version: v1.0\nname: scale\nagent:\n  machine:\n    type: e1-standard-2\nqueue:\n  processing: parallel\nblocks:\n  - name: B\n    task:\n      jobs:\n")
	fmt.Fprintf(&y, "        - name: J\n          parallelism: %d\n          commands:\n            - echo ran $SEMAPHORE_JOB_INDEX\n", sc.perWorkflow)
	repo := testenv.NewRepo(sc.b, map[string]string{".semaphore/semaphore.yml": y.String()})
	sc.project = "scale"
	if err := sc.api(0, "POST", "/api/v1/projects", map[string]any{"name": sc.project, "repo_url": repo.URL(), "default_branch": "main"}, nil, http.StatusCreated); err != nil {
		sc.b.Fatal(err)
	}
}

// triggerWorkflows triggers n workflows through the API, spread over the
// servers, four at a time.
func (sc *scaleRun) triggerWorkflows(n int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed error
	next := atomic.Int64{}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				var wf ci.Workflow
				err := sc.api(i, "POST", "/api/v1/projects/"+sc.project+"/workflows", map[string]any{"branch": "main"}, &wf, http.StatusCreated)
				mu.Lock()
				if err != nil && failed == nil {
					failed = err
				}
				sc.triggered = append(sc.triggered, wf.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		sc.b.Fatal(failed)
	}
}

// measureDB is a connection to the benchmark's database kept for the
// waits, so that they do not open one per look.
func (sc *scaleRun) measureDB() *sql.DB {
	if sc.mdb == nil {
		u, err := url.Parse(sc.dsn)
		if err != nil {
			sc.b.Fatal(err)
		}
		q := u.Query()
		q.Set("application_name", benchApp)
		u.RawQuery = q.Encode()
		db, err := sql.Open("pgx", u.String())
		if err != nil {
			sc.b.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		sc.b.Cleanup(func() { db.Close() })
		sc.mdb = db
	}
	return sc.mdb
}

func (sc *scaleRun) scalar(query string, args ...any) int64 {
	var n sql.NullInt64
	if err := sc.measureDB().QueryRowContext(sc.b.Context(), query, args...).Scan(&n); err != nil {
		sc.b.Fatalf("%s: %v", query, err)
	}
	return n.Int64
}

// waitPolled waits until every agent polled since t (its last_seen).
func (sc *scaleRun) waitPolled(t time.Time, within time.Duration) {
	probe.Eventually(sc.b, within, func() error {
		n := sc.scalar("SELECT count(*) FROM agents WHERE state = 'connected' AND last_seen >= $1", t)
		if int(n) < sc.agents {
			return fmt.Errorf("%d of %d agents polled", n, sc.agents)
		}
		return nil
	})
}

func (sc *scaleRun) waitQueued(n int, within time.Duration) {
	probe.Eventually(sc.b, within, func() error {
		q := sc.scalar("SELECT count(*) FROM jobs WHERE state = 'queued'")
		if int(q) < n {
			return fmt.Errorf("%d of %d jobs queued", q, n)
		}
		return nil
	})
}

func (sc *scaleRun) waitDone(n int, within time.Duration) {
	probe.Eventually(sc.b, within, func() error {
		d := sc.scalar("SELECT count(*) FROM jobs WHERE state = 'done'")
		if int(d) < n {
			return fmt.Errorf("%d of %d jobs done", d, n)
		}
		return nil
	})
}

func (sc *scaleRun) lastDone() time.Time {
	var t time.Time
	if err := sc.measureDB().QueryRowContext(sc.b.Context(), "SELECT max(done_at) FROM jobs").Scan(&t); err != nil {
		sc.b.Fatal(err)
	}
	return t
}

// verify checks that every job ran exactly once and passed, and every
// workflow passed (through the API).
func (sc *scaleRun) verify(jobs, workflows int) {
	b := sc.b
	total := sc.scalar("SELECT count(*) FROM jobs")
	passed := sc.scalar("SELECT count(*) FROM jobs WHERE state = 'done' AND result = 'passed'")
	lost := sc.scalar("SELECT count(*) FROM jobs WHERE reason = 'agent_lost'")
	agentsLost := sc.scalar("SELECT count(*) FROM agents WHERE state = 'lost'")
	b.ReportMetric(float64(int(total)-int(passed)), "jobs-not-passed")
	if int(total) != jobs || int(passed) != jobs {
		sc.sim.claimsMu.Lock()
		b.Logf("the agents' log or result refused for %d jobs: %v", len(sc.sim.refusals), sc.sim.refusals[:min(3, len(sc.sim.refusals))])
		sc.sim.claimsMu.Unlock()
		b.Errorf("%d jobs, %d passed (%d failed as agent_lost; %d agents declared lost); want %d passed", total, passed, lost, agentsLost, jobs)
		return
	}
	if twice := sc.sim.assignedTwice(); len(twice) > 0 {
		b.Fatalf("%d jobs handed out more than once: %v", len(twice), twice[:min(5, len(twice))])
	}
	if got := sc.sim.assignedCount(); got != jobs {
		b.Fatalf("the agents were handed %d jobs, want %d", got, jobs)
	}
	// The last answers to finish may still be on their way.
	probe.Eventually(b, time.Minute, func() error {
		if got := sc.sim.finishedCount(); got != jobs {
			return fmt.Errorf("the agents finished %d jobs, want %d", got, jobs)
		}
		return nil
	})
	if len(sc.triggered) != workflows {
		b.Fatalf("%d workflows triggered, want %d", len(sc.triggered), workflows)
	}
	for i, id := range sc.triggered {
		var wf struct {
			Result ci.Result `json:"result"`
			State  ci.State  `json:"state"`
		}
		if err := sc.api(i, "GET", "/api/v1/workflows/"+id, nil, &wf, http.StatusOK); err != nil {
			b.Fatal(err)
		}
		if wf.Result != ci.ResultPassed {
			b.Fatalf("workflow %s: %s %s", id, wf.State, wf.Result)
		}
	}
}

// poolStats sums the servers' database pool metrics: waits for a
// connection, seconds waited, idle connections closed.
func (sc *scaleRun) poolStats() (waits, seconds, closed float64) {
	for _, srv := range sc.servers {
		resp, err := sc.triggerClient.Get(srv.url + "/metrics")
		if err != nil {
			sc.b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			sc.b.Fatal(err)
		}
		for _, line := range strings.Split(string(body), "\n") {
			name, value, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			v, _ := strconv.ParseFloat(value, 64)
			switch name {
			case "baton_db_connection_waits_total":
				waits += v
			case "baton_db_connection_wait_seconds_total":
				seconds += v
			case "baton_db_connections_closed_idle_total":
				closed += v
			}
		}
	}
	return waits, seconds, closed
}

// Statement counts, for finding where the transactions go: with
// quietAfter is BATON_SCALE_QUIET_SECONDS: how long the servers are left
// quiet after the drain before their memory is read again (0: not).
func (sc *scaleRun) quietAfter() time.Duration {
	n, _ := strconv.Atoi(os.Getenv("BATON_SCALE_QUIET_SECONDS"))
	return time.Duration(max(n, 0)) * time.Second
}

// BATON_SCALE_STATEMENTS=1 and PostgreSQL's pg_stat_statements loaded
// (shared_preload_libraries, CREATE EXTENSION in the maintenance
// database), each phase logs its most frequent statements.
func (sc *scaleRun) statementsWanted() bool { return os.Getenv("BATON_SCALE_STATEMENTS") == "1" }

func (sc *scaleRun) resetStatements() {
	if !sc.statementsWanted() {
		return
	}
	if _, err := sc.db.ExecContext(sc.b.Context(), "SELECT pg_stat_statements_reset()"); err != nil {
		sc.b.Fatalf("BATON_SCALE_STATEMENTS: %v", err)
	}
}

func (sc *scaleRun) logStatements(phase string, per float64, unit string) {
	if !sc.statementsWanted() {
		return
	}
	rows, err := sc.db.QueryContext(sc.b.Context(), `SELECT s.calls, left(regexp_replace(s.query, '\s+', ' ', 'g'), 160)
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = $1 ORDER BY s.calls DESC LIMIT 40`, sc.dbName)
	if err != nil {
		sc.b.Fatalf("BATON_SCALE_STATEMENTS: %v", err)
	}
	defer rows.Close()
	var out strings.Builder
	for rows.Next() {
		var calls int64
		var q string
		if err := rows.Scan(&calls, &q); err != nil {
			sc.b.Fatal(err)
		}
		fmt.Fprintf(&out, "\n%8.2f/%s  %s", float64(calls)/per, unit, q)
	}
	sc.b.Logf("%s: statements per %s:%s", phase, unit, out.String())
}

// cpuTimes returns each server's CPU seconds so far (user + system).
func (sc *scaleRun) cpuTimes() []float64 {
	var out []float64
	for _, s := range sc.servers {
		out = append(out, cpuSeconds(s.cmd.Process.Pid))
	}
	return out
}

// cpuSeconds reads utime + stime of a process from /proc/PID/stat.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name may hold spaces: fields count from after ')'.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// xactCommit is the committed transactions of the benchmark's database.
func (sc *scaleRun) xactCommit() int64 {
	var n int64
	if err := sc.db.QueryRowContext(sc.b.Context(), "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", sc.dbName).Scan(&n); err != nil {
		sc.b.Fatal(err)
	}
	return n
}

const connCount = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name <> $2"

// connections counts the connections to the benchmark's database (the
// benchmark's own measuring connection not included).
func (sc *scaleRun) connections() int64 {
	var n int64
	if err := sc.db.QueryRowContext(sc.b.Context(), connCount, sc.dbName, benchApp).Scan(&n); err != nil {
		sc.b.Fatal(err)
	}
	return n
}

func (sc *scaleRun) startConnSampler() {
	sc.maxConns.Store(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			var n int64
			if sc.db.QueryRowContext(ctx, connCount, sc.dbName, benchApp).Scan(&n) == nil {
				for {
					old := sc.maxConns.Load()
					if n <= old || sc.maxConns.CompareAndSwap(old, n) {
						break
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	sc.stopConnSampler = func() { cancel(); <-done }
}

func (sc *scaleRun) stopConns() int64 {
	sc.stopConnSampler()
	return sc.maxConns.Load()
}

// agentSim is a crowd of simulated agents in one process, over one HTTP
// transport: each registers, long-polls, and runs the jobs it is handed
// by sending their log in one chunk and their result, passed.
type agentSim struct {
	urls   []string
	token  string
	hc     *http.Client
	tr     *http.Transport
	agents []*simAgent

	free atomic.Bool
	// gen is the context of the current polls; interrupt cancels it so
	// that every poll starts again (and sees free).
	mu     sync.Mutex
	gen    context.Context
	cancel context.CancelFunc

	life     context.Context
	stopLife context.CancelFunc
	wg       sync.WaitGroup
	polls    atomic.Int64 // polls started since the last interrupt

	claimsMu sync.Mutex
	claims   []claim
	// finishTimes are how long each finish (with the log's one chunk)
	// took, from sent to answered (retries included).
	finishTimes []timed
	assigned    map[string]int
	finished    atomic.Int64
	refusals    []string
}

// claim is one job handed to an agent: when the poll that brought it was
// sent and when its answer arrived.
type claim struct {
	job        string
	sent, recv time.Time
}

type simAgent struct {
	i      int
	client *agentapi.Client
	id     string

	// As a real agent, it keeps polling (free_slots 0, its job listed)
	// while it runs a job, and polls again at once when the job ends.
	mu      sync.Mutex
	running string             // the job it runs, "" if none
	cancel  context.CancelFunc // of the poll in flight
	jobs    sync.WaitGroup
}

func newAgentSim(urls []string, token string, n int) *agentSim {
	tr := &http.Transport{MaxIdleConns: 4 * n, MaxIdleConnsPerHost: 4 * n, IdleConnTimeout: 2 * time.Minute}
	s := &agentSim{urls: urls, token: token, tr: tr, hc: &http.Client{Transport: tr}, assigned: map[string]int{}}
	s.life, s.stopLife = context.WithCancel(context.Background())
	s.gen, s.cancel = context.WithCancel(s.life)
	for i := 0; i < n; i++ {
		c := agentapi.NewClient(urls[i%len(urls)], token, s.hc)
		c.AgentVersion = "scale-sim"
		s.agents = append(s.agents, &simAgent{i: i, client: c})
	}
	return s
}

func (s *agentSim) registerAll(ctx context.Context) error {
	errs := make(chan error, len(s.agents))
	var wg sync.WaitGroup
	for _, a := range s.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.register(ctx, a)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *agentSim) register(ctx context.Context, a *simAgent) error {
	for attempt := 0; ; attempt++ {
		resp, err := a.client.Register(ctx, agentapi.RegisterRequest{AgentID: a.id, Name: fmt.Sprintf("sim-%04d", a.i), Type: "e1-standard-2", Slots: 1, Version: "scale-sim", Hostname: "scale-sim", OS: "linux", Arch: "amd64", Executors: []string{"shell"}})
		if err == nil {
			a.id = resp.AgentID
			return nil
		}
		if !agentapi.IsRetryable(err) || attempt == 20 || ctx.Err() != nil {
			return fmt.Errorf("agent %d: %w", a.i, err)
		}
		time.Sleep(time.Duration(50+attempt*50) * time.Millisecond)
	}
}

// generation returns the context of the polls to send now and whether
// they may take jobs. A poll that may take a job is never interrupted:
// its answer could carry a job the agent would then never run.
func (s *agentSim) generation() (context.Context, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, s.free.Load()
}

// interrupt ends every poll in flight, all taking no jobs; each agent
// polls again at once, taking jobs if free.
func (s *agentSim) interrupt(free bool) {
	s.mu.Lock()
	s.polls.Store(0)
	old := s.cancel
	s.gen, s.cancel = context.WithCancel(s.life)
	s.free.Store(free)
	s.mu.Unlock()
	old()
}

// drop is a reconnect storm: every poll in flight ends and every
// connection closes at once; each agent connects and polls again,
// taking jobs.
func (s *agentSim) drop() {
	s.interrupt(true)
	s.tr.CloseIdleConnections()
}

// waitPolls waits until n polls started since the last interrupt.
func (s *agentSim) waitPolls(n int, within time.Duration) {
	deadline := time.Now().Add(within)
	for s.polls.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the polls reach the servers
}

func (s *agentSim) startAll() {
	for _, a := range s.agents {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.loop(a)
		}()
	}
}

func (s *agentSim) stop() {
	s.stopLife()
	s.wg.Wait()
	s.tr.CloseIdleConnections()
}

// loop is an agent's life: poll, start what it is handed, poll again.
func (s *agentSim) loop(a *simAgent) {
	defer a.jobs.Wait()
	backoff := 50 * time.Millisecond
	for s.life.Err() == nil {
		gen, mayTake := s.generation()
		pctx, cancel := context.WithCancel(gen)
		a.mu.Lock()
		a.cancel = cancel
		running := []string{}
		if a.running != "" {
			running = append(running, a.running)
		}
		a.mu.Unlock()
		free := 0
		if mayTake && len(running) == 0 {
			free = 1
		}
		s.polls.Add(1)
		sent := time.Now()
		resp, err := a.client.Poll(pctx, agentapi.PollRequest{AgentID: a.id, FreeSlots: free, Running: running})
		recv := time.Now()
		cancel()
		if err != nil {
			if pctx.Err() != nil {
				continue // interrupted, or its job ended: poll again now
			}
			var he *agentapi.HTTPError
			if errors.As(err, &he) && he.Status == http.StatusUnauthorized {
				if err := s.register(s.life, a); err != nil && s.life.Err() == nil {
					panic(err)
				}
				continue
			}
			select {
			case <-s.life.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		for _, as := range resp.Assign {
			s.claimsMu.Lock()
			s.claims = append(s.claims, claim{job: as.JobID, sent: sent, recv: recv})
			s.assigned[as.JobID]++
			s.claimsMu.Unlock()
			a.mu.Lock()
			a.running = as.JobID
			a.mu.Unlock()
			a.jobs.Add(1)
			go func() {
				defer a.jobs.Done()
				s.run(a, as)
				a.mu.Lock()
				a.running = ""
				a.cancel() // the poll in flight said the agent was busy
				a.mu.Unlock()
			}()
		}
	}
}

// run "runs" a job: its log, one chunk, goes with its result.
func (s *agentSim) run(a *simAgent, as agentapi.Assignment) {
	ts := ci.Timestamp(time.Now())
	code := 0
	var events []ci.Event
	events = append(events, ci.Event{Kind: ci.EventJobStarted, Timestamp: ts})
	for _, c := range as.Job.Commands {
		events = append(events,
			ci.Event{Kind: ci.EventCmdStarted, Timestamp: ts, Directive: c},
			ci.Event{Kind: ci.EventCmdOutput, Timestamp: ts, Output: "simulated " + as.JobID + "\n"},
			ci.Event{Kind: ci.EventCmdFinished, Timestamp: ts, Directive: c, ExitCode: &code, StartedAt: &ts, FinishedAt: &ts})
	}
	events = append(events, ci.Event{Kind: ci.EventJobFinished, Timestamp: ts, Result: ci.ResultPassed})
	// The log's one chunk goes with the result, as a real agent sends a
	// small job's last chunk. A refusal (the server failed the job
	// meanwhile: its agent was declared lost) is counted, and the job
	// left.
	last := agentapi.LogChunk{Seq: 0, Events: events}
	finishSent := time.Now()
	defer func() { s.timed(&s.finishTimes, finishSent, time.Now()) }()
	for attempt := 0; ; attempt++ {
		err := a.client.Finish(s.life, as.JobID, agentapi.FinishRequest{Result: ci.ResultPassed, Chunks: 1, Last: &last})
		if err == nil || !agentapi.IsRetryable(err) || s.life.Err() != nil || attempt == 50 {
			if err != nil && s.life.Err() == nil {
				s.refused(as.JobID, err)
				return
			}
			if err == nil {
				s.finished.Add(1)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// timed is a request's span.
type timed struct{ sent, recv time.Time }

func (s *agentSim) timed(into *[]timed, sent, recv time.Time) {
	if recv.IsZero() || recv.Before(sent) {
		return // never answered
	}
	s.claimsMu.Lock()
	*into = append(*into, timed{sent, recv})
	s.claimsMu.Unlock()
}

// requestTimes returns the p50 and p99 of the finishes' times sent since
// t.
func (s *agentSim) requestTimes(t time.Time) (p50, p99 time.Duration) {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	pct := func(ts []timed) (time.Duration, time.Duration) {
		var ds []time.Duration
		for _, x := range ts {
			if !x.sent.Before(t) {
				ds = append(ds, x.recv.Sub(x.sent))
			}
		}
		if len(ds) == 0 {
			return 0, 0
		}
		return percentile(ds, 0.5).Round(10 * time.Microsecond), percentile(ds, 0.99).Round(10 * time.Microsecond)
	}
	return pct(s.finishTimes)
}

// claimLatency returns the p50 and p99 of how long the jobs handed out
// since t took from their poll (or t, if later) to the agent.
func (s *agentSim) claimLatency(since, _ time.Time) (p50, p99 time.Duration) {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	var ds []time.Duration
	for _, c := range s.claims {
		if c.recv.Before(since) {
			continue
		}
		from := c.sent
		if since.After(from) {
			from = since
		}
		ds = append(ds, c.recv.Sub(from))
	}
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return percentile(ds, 0.50).Round(10 * time.Microsecond), percentile(ds, 0.99).Round(10 * time.Microsecond)
}

func (s *agentSim) assignedTwice() []string {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	var out []string
	for id, n := range s.assigned {
		if n > 1 {
			out = append(out, id)
		}
	}
	return out
}

func (s *agentSim) assignedCount() int {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	return len(s.assigned)
}

func (s *agentSim) finishedCount() int { return int(s.finished.Load()) }

// refused records a job whose log or result the server refused.
func (s *agentSim) refused(jobID string, err error) {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	s.refusals = append(s.refusals, jobID+": "+err.Error())
}
