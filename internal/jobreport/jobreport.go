// Package jobreport holds what the keepers of jobs' published reports
// (test results and code coverage) share: a lock per job, so that two
// publishes of one job at once both end up in its report; reports stored
// as gzipped JSON objects; and the queue of ended pipelines whose jobs'
// reports are to be merged, worked by one goroutine.
package jobreport

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"hash/fnv"
	"sync"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
)

// Locks serialises the publishes of one job on this server. Jobs share a
// few locks. The zero value is ready.
type Locks struct{ m [64]sync.Mutex }

// Lock locks job id's lock and returns its unlock.
func (l *Locks) Lock(id string) func() {
	h := fnv.New32a()
	h.Write([]byte(id))
	m := &l.m[h.Sum32()%uint32(len(l.m))]
	m.Lock()
	return m.Unlock
}

// Write stores v as gzipped JSON under key and returns the object's
// size.
func Write(ctx context.Context, blobs blob.Store, key string, v any) (int64, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	info, err := blobs.PutSized(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		return 0, err
	}
	return info.Size, nil
}

// Read decodes the gzipped JSON object key into v.
func Read(ctx context.Context, blobs blob.Store, key string, v any) error {
	rc, err := blobs.Get(ctx, key, blob.Range{})
	if err != nil {
		return err
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return err
	}
	return json.NewDecoder(zr).Decode(v)
}

// Pending is the set of ended pipelines whose reports are to be merged.
type Pending struct {
	mu   sync.Mutex
	ids  map[string]bool
	wake chan struct{}
}

// NewPending returns an empty set.
func NewPending() *Pending {
	return &Pending{ids: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// Add adds p if it ended; it is an engine.Observer's PipelineChanged.
func (q *Pending) Add(p *ci.Pipeline) {
	if p.State != ci.StateDone {
		return
	}
	q.mu.Lock()
	q.ids[p.ID] = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes and returns one pipeline ID, or "".
func (q *Pending) take() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	for id := range q.ids {
		delete(q.ids, id)
		return id
	}
	return ""
}

// Run calls merge for each pipeline added, until ctx ends.
func (q *Pending) Run(ctx context.Context, merge func(ctx context.Context, pipelineID string)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		for id := q.take(); id != ""; id = q.take() {
			merge(ctx, id)
		}
	}
}
