package pipeline

import (
	"fmt"
	"github.com/batonci/baton/internal/editdist"
	"strconv"
	"strings"
)

// Semantic rules of docs/semaphore.md §1.12: names, dependencies, matrix sizes and time
// limits. They work on decoded values, so they also cover tasks read from
// task files.

// nameBlocks rejects duplicate block names and names nameless blocks
// "Nameless block N" (N counts nameless blocks from 1, skipping taken
// names), as plumber's BlocksGodfather does. namePos[i] is the position of
// blocks[i]'s name, the zero Pos when it has none.
func (s *session) nameBlocks(blocks []*Block, namePos []Pos) {
	taken := map[string]Pos{}
	for i, b := range blocks {
		if b.Name == "" {
			continue
		}
		if first, dup := taken[b.Name]; dup {
			s.report(namePos[i], fmt.Sprintf("duplicate block name %q (first used on line %d); block names must be unique", b.Name, first.Line))
			continue
		}
		taken[b.Name] = namePos[i]
	}
	n := 1
	for _, b := range blocks {
		if b.Name != "" {
			continue
		}
		b.Name, n = uniqueName("Nameless block ", n, taken)
	}
}

// nameJobs rejects duplicate job and booster names within a task and names
// the nameless ones "Nameless N", as plumber's JobsGodfather does.
func (s *session) nameJobs(t *Task, jobNames, boosterNames []Pos) {
	taken := map[string]Pos{}
	check := func(name string, p Pos) {
		if name == "" {
			return
		}
		if first, dup := taken[name]; dup {
			s.report(p, fmt.Sprintf("duplicate job name %q (first used on line %d); job names must be unique within a block", name, first.Line))
			return
		}
		taken[name] = p
	}
	for i, j := range t.Jobs {
		check(j.Name, jobNames[i])
	}
	for i, b := range t.Boosters {
		check(b.Name, boosterNames[i])
	}
	n := 1
	for _, j := range t.Jobs {
		if j.Name == "" {
			j.Name, n = uniqueName("Nameless ", n, taken)
		}
	}
	n = 1
	for _, b := range t.Boosters {
		if b.Name == "" {
			b.Name, n = uniqueName("Nameless ", n, taken)
		}
	}
}

// uniqueName returns prefix+N for the first N >= n not in taken, marks it
// taken, and returns the next N to try.
func uniqueName(prefix string, n int, taken map[string]Pos) (string, int) {
	for {
		name := prefix + strconv.Itoa(n)
		n++
		if _, ok := taken[name]; !ok {
			taken[name] = Pos{}
			return name, n
		}
	}
}

// checkMatrixTotal rejects a task whose job matrices add up to more than 100
// jobs. It reports at the job whose matrix crosses the limit.
func (s *session) checkMatrixTotal(t *Task) {
	total := 0
	for _, j := range t.Jobs {
		if len(j.Matrix) == 0 {
			continue
		}
		size := 1
		for _, ax := range j.Matrix {
			if ax.Values != nil {
				size = min(size*len(ax.Values), maxMatrix+1)
			}
		}
		if size > maxMatrix {
			return // already reported for the job itself
		}
		total += size
		if total > maxMatrix {
			s.report(j.Pos, fmt.Sprintf("the job matrices of this block add up to %d jobs; the maximum per block is %d", total, maxMatrix))
			return
		}
	}
}

// validate runs the rules that need the whole pipeline, including tasks
// loaded from task files.
func (s *session) validate(p *Pipeline) {
	s.checkDependencies(p.Blocks)
	s.checkTimeLimits(p)
}

// checkDependencies rejects mixed implicit/explicit dependencies, unknown
// or repeated block names, and cycles.
func (s *session) checkDependencies(blocks []*Block) {
	explicit := 0
	for _, b := range blocks {
		if b.HasDependencies {
			explicit++
		}
	}
	if explicit > 0 && explicit < len(blocks) {
		for _, b := range blocks {
			if !b.HasDependencies {
				s.report(b.Pos, fmt.Sprintf("block %q has no \"dependencies\" but other blocks do; when one block declares dependencies, all must (use \"dependencies: []\" for a block that starts right away)", b.Name))
			}
		}
	}
	index := map[string]int{}
	var names []string
	for i, b := range blocks {
		if _, dup := index[b.Name]; !dup {
			index[b.Name] = i
			names = append(names, b.Name)
		}
	}
	edges := make([][]*Dependency, len(blocks))
	for i, b := range blocks {
		seen := map[string]bool{}
		for _, dep := range b.Dependencies {
			switch _, known := index[dep.Name]; {
			case seen[dep.Name]:
				s.report(dep.Pos, fmt.Sprintf("block %q is listed twice in the dependencies of block %q", dep.Name, b.Name))
			case !known:
				msg := fmt.Sprintf("block %q depends on unknown block %q", b.Name, dep.Name)
				if sug := editdist.Nearest(dep.Name, names); sug != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", sug)
				}
				s.report(dep.Pos, msg)
			default:
				edges[i] = append(edges[i], dep)
			}
			seen[dep.Name] = true
		}
	}
	s.checkCycles(blocks, index, edges)
}

// checkCycles reports every dependency that closes a cycle, found by a
// depth-first search in block order.
func (s *session) checkCycles(blocks []*Block, index map[string]int, edges [][]*Dependency) {
	const (
		unvisited = iota
		onStack
		done
	)
	state := make([]int, len(blocks))
	var stack []int
	var visit func(int)
	visit = func(i int) {
		state[i] = onStack
		stack = append(stack, i)
		for _, dep := range edges[i] {
			j := index[dep.Name]
			switch state[j] {
			case unvisited:
				visit(j)
			case onStack:
				s.report(dep.Pos, cycleMessage(blocks, stack, j))
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
	}
	for i := range blocks {
		if state[i] == unvisited {
			visit(i)
		}
	}
}

// cycleMessage describes the cycle from block j through the top of stack
// back to j, in dependency order.
func cycleMessage(blocks []*Block, stack []int, j int) string {
	start := len(stack) - 1
	for start > 0 && stack[start] != j {
		start--
	}
	if start == len(stack)-1 {
		return fmt.Sprintf("block %q depends on itself", blocks[j].Name)
	}
	var path []string
	for _, i := range stack[start:] {
		path = append(path, strconv.Quote(blocks[i].Name))
	}
	path = append(path, strconv.Quote(blocks[j].Name))
	return "dependency cycle: " + strings.Join(path, " -> ") + " (each block depends on the next)"
}

// Time limits, in minutes (plumber's MaxTimeLimitChecker).
const (
	defaultPipelineLimit = 60
	maxJobLimit          = 24 * 60
)

// checkTimeLimits enforces job <= block <= pipeline (the pipeline limit
// defaulting to one hour) and rejects block and pipeline limits above the
// 24-hour job limit unless a job explicitly runs that long.
func (s *session) checkTimeLimits(p *Pipeline) {
	pipeLimit, pipeDesc := defaultPipelineLimit, "the pipeline's default limit of 1 hour (set execution_time_limit at the top level to raise it)"
	if p.ExecutionTimeLimit != nil {
		pipeLimit = p.ExecutionTimeLimit.Minutes
		pipeDesc = "the pipeline's execution_time_limit of " + formatMinutes(pipeLimit)
	}
	longestJob := 0
	for _, b := range p.Blocks {
		var jobs []*Job
		if b.Task != nil {
			jobs = b.Task.Jobs
		}
		blockJob := 0
		for _, j := range jobs {
			if j.ExecutionTimeLimit != nil {
				blockJob = max(blockJob, j.ExecutionTimeLimit.Minutes)
			}
		}
		longestJob = max(longestJob, blockJob)
		bl := b.ExecutionTimeLimit
		if bl != nil {
			switch {
			case bl.Minutes > maxJobLimit && blockJob < maxJobLimit:
				s.report(bl.Pos, fmt.Sprintf("block %q has an execution_time_limit of %s, longer than the 24-hour default limit of its jobs, which would stop them first", b.Name, formatMinutes(bl.Minutes)))
			case bl.Minutes > pipeLimit:
				s.report(bl.Pos, fmt.Sprintf("block %q has an execution_time_limit of %s, longer than %s", b.Name, formatMinutes(bl.Minutes), pipeDesc))
			}
		}
		for _, j := range jobs {
			jl := j.ExecutionTimeLimit
			switch {
			case jl == nil:
			case bl != nil && jl.Minutes > bl.Minutes:
				s.report(jl.Pos, fmt.Sprintf("job %q has an execution_time_limit of %s, longer than the execution_time_limit of its block %q (%s)", j.Name, formatMinutes(jl.Minutes), b.Name, formatMinutes(bl.Minutes)))
			case bl == nil && jl.Minutes > pipeLimit:
				s.report(jl.Pos, fmt.Sprintf("job %q has an execution_time_limit of %s, longer than %s", j.Name, formatMinutes(jl.Minutes), pipeDesc))
			}
		}
	}
	if p.ExecutionTimeLimit != nil && pipeLimit > maxJobLimit && longestJob < maxJobLimit {
		s.report(p.ExecutionTimeLimit.Pos, fmt.Sprintf("the pipeline's execution_time_limit of %s is longer than the 24-hour default job limit; jobs would stop first (give the long jobs their own execution_time_limit)", formatMinutes(pipeLimit)))
	}
}

// formatMinutes renders a duration like Semaphore does: "1 hour",
// "90 minutes" is "1 hour and 30 minutes".
func formatMinutes(m int) string {
	h, m := m/60, m%60
	unit := func(n int, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + one + "s"
	}
	switch {
	case h == 0:
		return unit(m, "minute")
	case m == 0:
		return unit(h, "hour")
	}
	return unit(h, "hour") + " and " + unit(m, "minute")
}
