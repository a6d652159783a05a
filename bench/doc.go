// Package bench holds Baton's end-to-end benchmarks. Each benchmark runs
// the real baton binary and, in the same run, the baseline it is judged
// against (bare bash, a plain script), so results stay comparable on a
// shared machine. Run them with:
//
//	go test -run '^$' -bench . -benchtime 5x ./bench/
//
// Results with the date and machine go to BENCHMARKS.md.
package bench
