package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/batonci/baton/internal/ci"
)

// Handout is what handing a claimed job to its agent needs to know
// besides the job itself, read in one statement by [DB.GetHandout].
type Handout struct {
	// Start is the job's JobStart.
	Start JobStart
	// Pipeline is the job's pipeline, without its Blocks, and without its
	// Graph (nil) unless it was asked for. It must not be written back.
	Pipeline *ci.Pipeline
	// Workflow is the pipeline's workflow, without its derived State and
	// Result (zero).
	Workflow *ci.Workflow
	// Project is the pipeline's project.
	Project *ci.Project
	// Block is the job's block, without its Jobs.
	Block *ci.Block
	// Tools are the organisation's global tools, as ListGlobalTools
	// returns them.
	Tools []ci.GlobalTool
}

// GetHandout reads a job's Handout: its JobStart, its pipeline (with its
// Graph when withGraph is set), workflow, project and block, and the
// global tools, all in one statement, so that every part is as current
// as the others. A job that does not exist is ErrNotFound.
func (db *DB) GetHandout(ctx context.Context, jobID string, withGraph bool) (*Handout, error) {
	query := handoutQueries[db.dialect][0]
	if withGraph {
		query = handoutQueries[db.dialect][1]
	}
	h, parts := handoutParts()
	if err := scanParts(db.reader(ctx).queryRow(query, jobID), parts...); err != nil {
		return nil, wrap("handout of job "+jobID, err)
	}
	if err := h.finish(); err != nil {
		return nil, fmt.Errorf("handout of job %s: %w", jobID, err)
	}
	return h.Handout, nil
}

// GetHandouts reads the Handouts of several jobs (without their
// pipelines' graphs) in one statement, as handing out the jobs one claim
// took for several agents needs: they are mostly of one pipeline. A job
// that does not exist is left out of the map.
func (db *DB) GetHandouts(ctx context.Context, jobIDs []string) (map[string]*Handout, error) {
	out := map[string]*Handout{}
	if len(jobIDs) == 0 {
		return out, nil
	}
	var args []any
	query := handoutSelect(toolsJSON[db.dialect], false, "j.id, ") + ` WHERE j.id IN (` + inList(&args, jobIDs) + `)`
	rows, err := db.reader(ctx).query(query, args...)
	if err != nil {
		return nil, wrap("handouts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		h, parts := handoutParts()
		if err := scanParts(rows, append([]rowPart{{dest: []any{&id}}}, parts...)...); err != nil {
			return nil, wrap("handouts", err)
		}
		if err := h.finish(); err != nil {
			return nil, fmt.Errorf("handout of job %s: %w", id, err)
		}
		out[id] = h.Handout
	}
	return out, wrap("handouts", rows.Err())
}

// handoutScan is a Handout being scanned from a row.
type handoutScan struct {
	*Handout
	tools []byte
}

// handoutParts returns a Handout and the parts of a row that fill it,
// in handoutSelect's order; finish completes it once scanned.
func handoutParts() (*handoutScan, []rowPart) {
	h := &handoutScan{Handout: &Handout{}}
	p, pipeline := pipelinePart()
	w, workflow := workflowPart()
	proj, project := projectPart()
	b, block := blockPart()
	h.Pipeline, h.Workflow, h.Project, h.Block = p, w, proj, b
	return h, []rowPart{jobStartPart(&h.Start), pipeline, workflow, project, block, rowPart{dest: []any{&h.tools}}}
}

func (h *handoutScan) finish() error {
	h.Tools = []ci.GlobalTool{}
	if len(h.tools) > 0 {
		if err := json.Unmarshal(h.tools, &h.Tools); err != nil {
			return fmt.Errorf("global tools: %w", err)
		}
	}
	return nil
}

// handoutQueries are GetHandout's statements by dialect, without and
// with the pipeline's graph.
var handoutQueries = map[string][2]string{
	SQLite:   {handoutQuery(toolsJSON[SQLite], false), handoutQuery(toolsJSON[SQLite], true)},
	Postgres: {handoutQuery(toolsJSON[Postgres], false), handoutQuery(toolsJSON[Postgres], true)},
}

// toolsJSON is, by dialect, the global tools of global_tools g as a JSON
// array of objects, in the order ListGlobalTools returns them: the
// aggregates differ by dialect (and PostgreSQL's is NULL when there are
// none).
var toolsJSON = map[string]string{
	SQLite:   `json_group_array(json_object('kind', g.kind, 'name', g.name, 'version', g.version) ORDER BY g.position)`,
	Postgres: `json_agg(json_build_object('kind', g.kind, 'name', g.name, 'version', g.version) ORDER BY g.position)`,
}

// handoutQuery is GetHandout's statement, with tools the aggregate of
// the global tools.
func handoutQuery(tools string, withGraph bool) string {
	return handoutSelect(tools, withGraph, "") + ` WHERE j.id = $1`
}

// handoutSelect is the handout statements' select from their join,
// without its condition: first columns, then handoutParts' columns.
func handoutSelect(tools string, withGraph bool, first string) string {
	pipeline := qualify("p", pipelineCols)
	if !withGraph {
		pipeline = strings.Replace(pipeline, "p.graph", "NULL", 1)
	}
	return `SELECT ` + first + jobStartCols + `, ` + pipeline + `, ` + workflowRowCols + `, ` +
		qualify("pr", projectCols) + `, ` + qualify("b", blockCols) + `,
		(SELECT ` + tools + ` FROM global_tools g)
		FROM jobs j JOIN blocks b ON b.id = j.block_id JOIN pipelines p ON p.id = j.pipeline_id
		JOIN workflows w ON w.id = p.workflow_id JOIN projects pr ON pr.id = p.project_id`
}

// qualify prefixes each column of a list of plain column names (such as
// pipelineCols) with a table's alias, for a join.
func qualify(alias, cols string) string {
	names := strings.Split(cols, ",")
	for i, n := range names {
		names[i] = alias + "." + strings.TrimSpace(n)
	}
	return strings.Join(names, ", ")
}
