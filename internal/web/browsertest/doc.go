// Package browsertest drives Baton's web pages in a real headless Chromium
// (Debian's package, through chromedp) against a real server on a loopback
// port with a real agent: signing in, creating a project from a local git
// repository, running it, following a job's log live, the sections of a
// failed job, what a signed-out visitor sees, and a 1,000,000-line log.
// It also holds the UI benchmarks (time to the first paint of a huge log's
// tail, bytes transferred, live log latency) and saves screenshots of the
// main pages to $BATON_ARTIFACTS.
//
// Chromium is looked up at $BATON_CHROMIUM, /usr/bin/chromium or
// chromium on PATH. Without it the tests skip, except in CI (CI=true),
// where a missing browser is a failure.
package browsertest
