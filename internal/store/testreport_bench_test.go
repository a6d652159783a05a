package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

// BenchmarkPutJobTestReport20k stores a job's report of 20,000 tests
// with their outcomes in SQLite, as publishing does.
func BenchmarkPutJobTestReport20k(b *testing.B) {
	db, err := Open(b.Context(), "sqlite:"+filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := &seed{project: &ci.Project{Name: "p", RepoURL: "https://example.com/p.git"}}
	if err := db.Tx(b.Context(), func(tx *Tx) error {
		if err := tx.CreateProject(s.project); err != nil {
			return err
		}
		s.workflow = &ci.Workflow{ProjectID: s.project.ID, Trigger: ci.TriggerPush, RefType: "branch", Branch: "main", SHA: "abc"}
		if err := tx.CreateWorkflow(s.workflow); err != nil {
			return err
		}
		s.pipeline = &ci.Pipeline{WorkflowID: s.workflow.ID, ProjectID: s.project.ID, Name: "p", State: ci.StateRunning}
		if err := tx.CreatePipeline(s.pipeline); err != nil {
			return err
		}
		s.block = &ci.Block{PipelineID: s.pipeline.ID, Name: "b", State: ci.StateRunning}
		return tx.CreateBlock(s.block)
	}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for b.Loop() {
		b.StopTimer()
		j := s.job("j", "m", 0, now)
		if err := db.Tx(b.Context(), func(tx *Tx) error { return tx.CreateJob(j) }); err != nil {
			b.Fatal(err)
		}
		outcomes := make([]TestOutcome, 20000)
		for i := range outcomes {
			outcomes[i] = TestOutcome{ProjectID: s.project.ID, TestID: fmt.Sprintf("%08d-4ad9-43f3-a443-04c3a94ac8fe", i), JobID: j.ID, PipelineID: s.pipeline.ID,
				WorkflowID: s.workflow.ID, SHA: "0123456789abcdef0123456789abcdef01234567", Branch: "main", Report: "bench",
				Suite: fmt.Sprintf("pkg/module%04d", i/20), Classname: fmt.Sprintf("pkg/module%04d", i/20), Name: fmt.Sprintf("TestBehaviour%05d/with_a_subtest_name", i),
				State: "passed", Duration: time.Millisecond, At: now}
		}
		b.StartTimer()
		if _, err := db.PutJobTestReport(b.Context(), TestReport{JobID: j.ID, PipelineID: s.pipeline.ID, ProjectID: s.project.ID, BlobKey: "k", UpdatedAt: now, Digest: []byte("{}")}, outcomes); err != nil {
			b.Fatal(err)
		}
	}
}
