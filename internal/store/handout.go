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
	h := &Handout{}
	var tools []byte
	p, pipeline := pipelinePart()
	w, workflow := workflowPart()
	proj, project := projectPart()
	b, block := blockPart()
	query := handoutQueries[db.dialect][0]
	if withGraph {
		query = handoutQueries[db.dialect][1]
	}
	err := scanParts(db.reader(ctx).queryRow(query, jobID),
		jobStartPart(&h.Start), pipeline, workflow, project, block, rowPart{dest: []any{&tools}})
	if err != nil {
		return nil, wrap("handout of job "+jobID, err)
	}
	h.Pipeline, h.Workflow, h.Project, h.Block = p, w, proj, b
	h.Tools = []ci.GlobalTool{}
	if len(tools) > 0 {
		if err := json.Unmarshal(tools, &h.Tools); err != nil {
			return nil, fmt.Errorf("handout of job %s: global tools: %w", jobID, err)
		}
	}
	return h, nil
}

// handoutQueries are GetHandout's statements by dialect, without and
// with the pipeline's graph.
var handoutQueries = map[string][2]string{
	SQLite: {
		handoutQuery(sqliteToolsJSON, false),
		handoutQuery(sqliteToolsJSON, true),
	},
	Postgres: {
		handoutQuery(postgresToolsJSON, false),
		handoutQuery(postgresToolsJSON, true),
	},
}

// The global tools of global_tools g as a JSON array of objects, in the
// order ListGlobalTools returns them: the aggregates differ by dialect
// (and PostgreSQL's is NULL when there are none).
const (
	sqliteToolsJSON   = `json_group_array(json_object('kind', g.kind, 'name', g.name, 'version', g.version) ORDER BY g.position)`
	postgresToolsJSON = `json_agg(json_build_object('kind', g.kind, 'name', g.name, 'version', g.version) ORDER BY g.position)`
)

// handoutQuery is GetHandout's statement, with tools the aggregate of
// the global tools.
func handoutQuery(tools string, withGraph bool) string {
	pipeline := qualify("p", pipelineCols)
	if !withGraph {
		pipeline = strings.Replace(pipeline, "p.graph", "NULL", 1)
	}
	return `SELECT ` + jobStartCols + `, ` + pipeline + `, ` + workflowRowCols + `, ` +
		qualify("pr", projectCols) + `, ` + qualify("b", blockCols) + `,
		(SELECT ` + tools + ` FROM global_tools g)
		FROM jobs j JOIN blocks b ON b.id = j.block_id JOIN pipelines p ON p.id = j.pipeline_id
		JOIN workflows w ON w.id = p.workflow_id JOIN projects pr ON pr.id = p.project_id
		WHERE j.id = $1`
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
