package store

import (
	"context"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
)

const blockCols = `id, pipeline_id, idx, name, dependencies, state, result, reason, skipped,
	time_limit_ms, fail_fast, started_at, done_at, after_pipeline`

func scanBlock(s scanner) (*ci.Block, error) {
	b, part := blockPart()
	return b, scanParts(s, part)
}

// blockPart is a block's share of a row: the columns of blockCols.
func blockPart() (*ci.Block, rowPart) {
	b := &ci.Block{}
	return b, rowPart{dest: []any{&b.ID, &b.PipelineID, &b.Index, &b.Name, listCol{&b.Dependencies}, &b.State,
		&b.Result, &b.Reason, &b.Skipped, durCol{&b.TimeLimit}, &b.FailFast,
		timeCol{&b.StartedAt}, timeCol{&b.DoneAt}, &b.AfterPipeline}}
}

func normBlock(b *ci.Block) {
	normDur(&b.TimeLimit)
	normTime(&b.StartedAt)
	normTime(&b.DoneAt)
}

// CreateBlock stores a new block (not its Jobs), giving it an ID if it has
// none. An empty Dependencies list reads back as nil.
func (tx *Tx) CreateBlock(b *ci.Block) error {
	return tx.CreateBlocks([]*ci.Block{b})
}

// CreateBlocks is CreateBlock for many blocks, stored in as few
// statements as the database's limit on a statement's parameters allows.
func (tx *Tx) CreateBlocks(bs []*ci.Block) error {
	rows := make([][]any, len(bs))
	for i, b := range bs {
		if b.ID == "" {
			b.ID = ids.New()
		}
		normBlock(b)
		rows[i] = []any{b.ID, b.PipelineID, b.Index, b.Name, listArg(b.Dependencies), b.State, b.Result,
			b.Reason, b.Skipped, ms(b.TimeLimit), b.FailFast, tx.ts(b.StartedAt), tx.ts(b.DoneAt),
			b.AfterPipeline}
	}
	return wrap("create block", tx.insertRows("blocks", blockCols, rows))
}

// UpdateBlock stores every field of b but its IDs (own, pipeline) and
// Jobs.
func (tx *Tx) UpdateBlock(b *ci.Block) error {
	normBlock(b)
	return tx.execOne("update block "+b.ID, `UPDATE blocks SET idx = $2, name = $3,
		dependencies = $4, state = $5, result = $6, reason = $7, skipped = $8,
		time_limit_ms = $9, fail_fast = $10, started_at = $11, done_at = $12,
		after_pipeline = $13
		WHERE id = $1`,
		b.ID, b.Index, b.Name, listArg(b.Dependencies), b.State, b.Result, b.Reason,
		b.Skipped, ms(b.TimeLimit), b.FailFast, tx.ts(b.StartedAt), tx.ts(b.DoneAt),
		b.AfterPipeline)
}

// ListBlocks returns a pipeline's blocks, without jobs, by Index.
func (tx *Tx) ListBlocks(pipelineID string) ([]*ci.Block, error) {
	bs, err := collect(tx, scanBlock, `SELECT `+blockCols+` FROM blocks
		WHERE pipeline_id = $1 ORDER BY idx, id`, pipelineID)
	return bs, wrap("list blocks", err)
}

// ListBlocks returns a pipeline's blocks, without jobs, by Index.
func (db *DB) ListBlocks(ctx context.Context, pipelineID string) ([]*ci.Block, error) {
	return db.reader(ctx).ListBlocks(pipelineID)
}
