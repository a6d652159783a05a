package store

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testTestDigests(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	s := newSeed(t, db, "p")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j1, j2, j3 := s.job("a", "m", 0, t0), s.job("b", "m", 0, t0), s.job("c", "m", 0, t0)
	write(t, db, func(tx *Tx) error { return errors.Join(tx.CreateJob(j1), tx.CreateJob(j2), tx.CreateJob(j3)) })
	if j2.ID < j1.ID { // found tests of equal names come by job ID
		j1, j2 = j2, j1
	}
	report := func(j *ci.Job, digest string) TestReport {
		r := TestReport{JobID: j.ID, PipelineID: s.pipeline.ID, ProjectID: s.project.ID, BlobKey: "k" + j.ID, UpdatedAt: t0}
		if digest != "" {
			r.Digest = []byte(digest)
		}
		return r
	}
	outcome := func(j *ci.Job, test, suite, class, name, state string, d time.Duration) TestOutcome {
		return TestOutcome{ProjectID: s.project.ID, TestID: test, JobID: j.ID, PipelineID: s.pipeline.ID, WorkflowID: s.workflow.ID,
			SHA: "sha", Branch: "main", Report: "Unit", Suite: suite, Classname: class, Name: name, State: state, Duration: d, At: t0}
	}

	// The digest is stored with the report and replaced with it.
	if _, err := db.PutJobTestReport(ctx, report(j1, `{"v":1}`), []TestOutcome{
		outcome(j1, "t1", "pkg/alpha", "", "TestAlpha_Underscore", "passed", time.Second),
		outcome(j1, "t2", "pkg/alpha", "com.example.BetaTest", "testGamma", "failed", 2*time.Second),
		outcome(j1, "t3", "pkg/100%", "", "TestPercent", "passed", time.Second),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutJobTestReport(ctx, report(j2, ""), []TestOutcome{
		outcome(j2, "t1", "pkg/alpha", "", "TestAlpha_Underscore", "passed", 3*time.Second),
		outcome(j2, "t1", "pkg/alpha", "", "TestAlpha_Underscore", "failed", time.Second), // published twice
	}); err != nil {
		t.Fatal(err)
	}
	got, err := db.JobTestDigests(ctx, []string{j1.ID, j2.ID, j3.ID})
	if err != nil || len(got) != 1 || string(got[j1.ID]) != `{"v":1}` {
		t.Fatalf("digests = %q, %v; want j1's only", got, err)
	}
	if _, err := db.PutJobTestReport(ctx, report(j1, `{"v":2}`), nil); err != nil {
		t.Fatal(err)
	}
	// A digest made later does not replace one stored with a report.
	if err := db.AddJobTestDigest(ctx, j1.ID, []byte(`{"late":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.AddJobTestDigest(ctx, j2.ID, []byte(`{"late":2}`)); err != nil {
		t.Fatal(err)
	}
	got, _ = db.JobTestDigests(ctx, []string{j1.ID, j2.ID})
	if string(got[j1.ID]) != `{"v":2}` || string(got[j2.ID]) != `{"late":2}` {
		t.Fatalf("digests = %q", got)
	}
	// A job without a report gets no digest.
	if err := db.AddJobTestDigest(ctx, j3.ID, []byte(`{}`)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("digest of a job without a report: %v, want ErrNotFound", err)
	}
	// A report stored again without a digest drops the old one.
	if _, err := db.PutJobTestReport(ctx, report(j2, ""), nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.JobTestDigests(ctx, []string{j2.ID}); len(got) != 0 {
		t.Fatalf("stale digest kept: %q", got)
	}

	// Finding tests: by suite, class or name, ASCII case ignored, one
	// row per test and job (failed if it ever failed), LIKE's wildcards
	// taken literally, only in the jobs asked.
	find := func(jobs []string, text string, limit int) []string {
		t.Helper()
		os, err := db.FindTestOutcomes(ctx, jobs, text, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range os {
			out = append(out, fmt.Sprintf("%s/%s/%s/%v", o.JobID, o.TestID, o.State, o.Duration))
		}
		return out
	}
	both := []string{j1.ID, j2.ID}
	for _, c := range []struct {
		text  string
		jobs  []string
		limit int
		want  []string
	}{
		{"testalpha", both, 10, []string{j1.ID + "/t1/passed/1s", j2.ID + "/t1/failed/3s"}},
		{"ALPHA_UNDER", []string{j1.ID}, 10, []string{j1.ID + "/t1/passed/1s"}},
		{"betatest.testgamma", both, 10, []string{j1.ID + "/t2/failed/2s"}},
		{"pkg/alpha", both, 3, []string{j1.ID + "/t1/passed/1s", j2.ID + "/t1/failed/3s", j1.ID + "/t2/failed/2s"}},
		{"pkg/alpha", both, 1, []string{j1.ID + "/t1/passed/1s"}},
		{"100%", both, 10, []string{j1.ID + "/t3/passed/1s"}},
		{"alpha_", both, 10, []string{j1.ID + "/t1/passed/1s", j2.ID + "/t1/failed/3s"}},
		{"a%a", both, 10, nil},
		{"a_pha", both, 10, nil},
		{"testalpha", []string{j3.ID}, 10, nil},
	} {
		if got := find(c.jobs, c.text, c.limit); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("find %q = %v, want %v", c.text, got, c.want)
		}
	}

	// Histories: the last n outcomes of each test on the branch, newest
	// first, with the target of a deployment's pipeline.
	deploy := &ci.Pipeline{WorkflowID: s.workflow.ID, ProjectID: s.project.ID, Name: "deploy", State: ci.StateDone, DeploymentTarget: "production"}
	write(t, db, func(tx *Tx) error { return tx.CreatePipeline(deploy) })
	var hist []TestOutcome
	for i := range 5 {
		o := outcome(j3, "h1", "s", "", "n", "passed", time.Duration(i)*time.Second)
		o.At = t0.Add(time.Duration(i) * time.Minute)
		if i == 4 {
			o.State, o.PipelineID = "failed", deploy.ID
		}
		hist = append(hist, o)
	}
	other := outcome(j3, "h2", "s", "", "m", "passed", time.Second)
	dev := outcome(j3, "h2", "s", "", "m", "failed", time.Second)
	dev.Branch = "dev"
	if _, err := db.PutJobTestReport(ctx, report(j3, ""), append(hist, other, dev)); err != nil {
		t.Fatal(err)
	}
	hs, err := db.TestHistories(ctx, s.project.ID, "main", []string{"h1", "h2", "none"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || len(hs["h1"]) != 3 || len(hs["h2"]) != 1 {
		t.Fatalf("histories = %+v", hs)
	}
	if h := hs["h1"][0]; h.State != "failed" || !h.At.Equal(t0.Add(4*time.Minute)) || h.DeploymentTarget != "production" || h.Duration != 4*time.Second {
		t.Errorf("newest = %+v", h)
	}
	if h := hs["h1"][2]; !h.At.Equal(t0.Add(2*time.Minute)) || h.DeploymentTarget != "" || h.WorkflowID != s.workflow.ID || h.JobID != j3.ID {
		t.Errorf("third = %+v", h)
	}
	if hs, _ := db.TestHistories(ctx, s.project.ID, "main", nil, 3); len(hs) != 0 {
		t.Errorf("no tests: %+v", hs)
	}
	// Another project's tests of the same id are not this one's.
	o2 := newSeed(t, db, "other")
	if hs, _ := db.TestHistories(ctx, o2.project.ID, "main", []string{"h1"}, 3); len(hs) != 0 {
		t.Errorf("other project's history = %+v", hs)
	}
}
