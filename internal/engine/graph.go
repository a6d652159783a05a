package engine

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/batonci/baton/internal/plan"
)

// encodeGraph is the stored form of a compiled pipeline (Pipeline.Graph).
func encodeGraph(g *plan.Graph) (json.RawMessage, error) {
	b, err := json.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("encode the pipeline graph: %w", err)
	}
	return b, nil
}

// decodeGraph reads a stored graph back. plan.Duration marshals as Go
// duration text ("1h0m0s"); when it cannot unmarshal that itself, the
// durations are converted to nanoseconds first.
func decodeGraph(raw json.RawMessage) (*plan.Graph, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("the pipeline has no compiled graph")
	}
	var g plan.Graph
	if err := json.Unmarshal(raw, &g); err == nil {
		return &g, nil
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, fmt.Errorf("decode the pipeline graph: %w", err)
	}
	if err := fixDurations(tree); err != nil {
		return nil, fmt.Errorf("decode the pipeline graph: %w", err)
	}
	fixed, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("decode the pipeline graph: %w", err)
	}
	if err := json.Unmarshal(fixed, &g); err != nil {
		return nil, fmt.Errorf("decode the pipeline graph: %w", err)
	}
	return &g, nil
}

// fixDurations rewrites every "execution_time_limit" string of a decoded
// JSON tree as integer nanoseconds.
func fixDurations(v any) error {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && k == "execution_time_limit" {
				d, err := time.ParseDuration(s)
				if err != nil {
					return err
				}
				t[k] = int64(d)
				continue
			}
			if err := fixDurations(x); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range t {
			if err := fixDurations(x); err != nil {
				return err
			}
		}
	}
	return nil
}

// planJob returns the planned job of a block (by index; the
// after_pipeline block follows the regular ones) and job index.
func planJob(g *plan.Graph, blockIndex, jobIndex int, afterPipeline bool) *plan.Job {
	var b *plan.Block
	switch {
	case afterPipeline:
		b = g.AfterPipeline
	case blockIndex >= 0 && blockIndex < len(g.Blocks):
		b = g.Blocks[blockIndex]
	}
	if b == nil || jobIndex < 0 || jobIndex >= len(b.Jobs) {
		return nil
	}
	return b.Jobs[jobIndex]
}

// graphCache keeps the decoded graphs of the pipelines whose jobs are
// being assigned: a stored graph never changes, and decoding a large one
// for each of its jobs would cost more than the rest of an assignment.
type graphCache struct {
	mu    sync.Mutex
	m     map[string]*plan.Graph
	order []string // insertion order, for eviction
}

// graphCacheSize bounds the cache.
const graphCacheSize = 64

// cached returns the decoded graph of pipeline id if the cache holds it.
func (c *graphCache) cached(id string) (*plan.Graph, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.m[id]
	return g, ok
}

// get returns the decoded graph of pipeline id, stored as raw. The graph
// is shared: callers must not change it.
func (c *graphCache) get(id string, raw json.RawMessage) (*plan.Graph, error) {
	c.mu.Lock()
	g, ok := c.m[id]
	c.mu.Unlock()
	if ok {
		return g, nil
	}
	g, err := decodeGraph(raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*plan.Graph{}
	}
	if _, ok := c.m[id]; !ok {
		if len(c.order) >= graphCacheSize {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.m[id] = g
		c.order = append(c.order, id)
	}
	return g, nil
}
