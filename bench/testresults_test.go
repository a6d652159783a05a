package bench

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// testResultsBenchPipeline makes a 20,000-test JUnit file of about 10 MiB
// (1,000 suites; every 20th test fails with a stack trace; each test has
// a few lines of output), then times `test-results publish` of it (parse,
// send through the job service and the agent, stored by the server) and,
// as the baseline, `xmllint --noout` of the same file, in the same job.
const testResultsBenchPipeline = `version: v1.0
name: Test results bench
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Publish
    task:
      jobs:
        - name: Job
          commands:
            - |
              awk 'BEGIN {
                out = "starting the test case, connecting to the fixture database, loading 42 fixtures, running the assertions, tearing the fixture down again; "
                printf "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"bench\">\n"
                for (s = 0; s < 1000; s++) {
                  printf "<testsuite name=\"pkg/module%04d\" tests=\"20\" time=\"1.5\">\n", s
                  for (t = 0; t < 20; t++) {
                    n = s * 20 + t
                    printf "<testcase classname=\"pkg/module%04d\" name=\"TestBehaviour%05d/with_a_subtest_name\" time=\"0.%04d\">", s, n, n % 10000
                    if (n % 20 == 7) printf "<failure message=\"expected 42, got 41\" type=\"AssertionError\">module_test.go:%d: expected 42, got 41\n%s%s</failure>", n % 500, out, out
                    printf "<system-out>%s%s%s</system-out></testcase>\n", out, out, out
                  }
                  printf "</testsuite>\n"
                }
                printf "</testsuites>\n"
              }' > big.xml
            - echo "bytes=$(wc -c < big.xml) tests=$(grep -c '<testcase' big.xml)"
            - command -v xmllint >/dev/null || { echo "no xmllint for the baseline, install libxml2-utils"; false; }
            - s=$(date +%s%N); xmllint --noout big.xml; t=$(date +%s%N); echo "xmllint-ns=$((t-s))"
            - s=$(date +%s%N); test-results publish big.xml; t=$(date +%s%N); echo "publish-ns=$((t-s))"
`

// BenchmarkTestResultsPublish20k times `test-results publish` of a
// 20,000-test, 10 MiB JUnit file in a job on a server and agent, against
// `xmllint --noout` of the same file in the same job. Run it with
// -benchtime 1x: each iteration is 3 jobs.
func BenchmarkTestResultsPublish20k(b *testing.B) {
	// A loaded machine must not lose the agent while the server stores
	// 20,000 outcomes.
	e := testenv.Start(b, testenv.Options{LostAfter: time.Minute})
	e.StartAgent(b, "bench", "e1-standard-2", 1)
	repo := testenv.NewRepo(b, map[string]string{".semaphore/semaphore.yml": testResultsBenchPipeline})
	e.Do("POST", "/api/v1/projects", map[string]any{"name": "bench", "repo_url": repo.URL(), "default_branch": "main"}, nil, http.StatusCreated)
	measure := func(log, key string) time.Duration {
		for l := range strings.SplitSeq(log, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+"-ns="); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					return time.Duration(n)
				}
			}
		}
		b.Fatalf("no %s time in the log:\n%s", key, log)
		return 0
	}
	var publish, xmllint []time.Duration
	b.ResetTimer()
	for range b.N {
		for range 3 {
			var wf ci.Workflow
			e.Do("POST", "/api/v1/projects/bench/workflows", map[string]any{"branch": "main"}, &wf, http.StatusCreated)
			w := e.WaitWorkflow(wf.ID, 5*time.Minute)
			log := e.Log(w.Jobs()["Publish/Job"].ID)
			if w.Result != ci.ResultPassed || !strings.Contains(log, "tests=20000") || !strings.Contains(log, "20000 tests: 19000 passed, 1000 failed") {
				b.Fatalf("%s:\n%s", w.Result, log)
			}
			for l := range strings.SplitSeq(log, "\n") {
				if strings.Contains(l, "bytes=") {
					b.Log(strings.TrimSpace(l))
				}
			}
			publish = append(publish, measure(log, "publish"))
			xmllint = append(xmllint, measure(log, "xmllint"))
		}
	}
	b.StopTimer()
	b.ReportMetric(percentile(publish, 0.5).Seconds()*1000, "publish-ms")
	b.ReportMetric(percentile(xmllint, 0.5).Seconds()*1000, "xmllint-ms")
	b.Logf("test-results publish: %s; xmllint --noout: %s", fmtDurations(publish), fmtDurations(xmllint))
}
