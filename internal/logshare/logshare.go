// Package logshare keeps job logs where every server can serve them: the
// database decides which object is chunk N of a log and when the log is
// sealed (package store), and the object storage holds the chunks while a
// job runs and one sealed object once it ends (package blob). It is the
// logstore.Shared of a server; each server's logstore keeps a private
// replica.
package logshare

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/store"
)

// Logs is a logstore.Shared on a database and an object store.
type Logs struct {
	db    *store.DB
	blobs blob.Store
}

var _ logstore.Shared = (*Logs)(nil)

// New returns shared logs kept in db and blobs.
func New(db *store.DB, blobs blob.Store) *Logs {
	return &Logs{db: db, blobs: blobs}
}

func head(h store.LogHead) logstore.Head {
	return logstore.Head{Exists: true, Next: h.Next, Sealed: h.Sealed}
}

// chunkKey is a new object name for chunk seq: unique, so that servers
// offering the same seq never overwrite each other's object.
func chunkKey(jobID string, seq int) string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("logs/%s/chunks/%09d-%s", jobID, seq, hex.EncodeToString(b[:]))
}

func archiveKey(jobID string) string { return "logs/" + jobID + "/log" }

// InlineMax is the size up to which a chunk is kept in the database's
// row instead of an object of its own. A trivial job's whole log is a few
// hundred bytes; an object would cost three requests to the object
// storage (write, then read or archive, then delete). The rows of a
// running job's chunks are bounded by InlineMax each; a sealed log of
// several chunks is archived as one object, which deletes them.
const InlineMax = 8 << 10

// Commit implements logstore.Shared: a block larger than InlineMax is
// stored as an object first, then offered to the database (a refused
// block's object is deleted); a smaller one goes with its offer.
func (l *Logs) Commit(ctx context.Context, jobID string, seq int, block []byte) (bool, logstore.Head, error) {
	return l.commit(ctx, jobID, seq, block, l.db.AcceptLogChunk)
}

// CommitLast implements logstore.Shared: Commit, and the seal after the
// block, in one statement.
func (l *Logs) CommitLast(ctx context.Context, jobID string, seq int, block []byte) (bool, logstore.Head, error) {
	return l.commit(ctx, jobID, seq, block, l.db.AcceptLastLogChunk)
}

func (l *Logs) commit(ctx context.Context, jobID string, seq int, block []byte, accept func(context.Context, string, store.LogChunk) (store.LogHead, bool, error)) (bool, logstore.Head, error) {
	c := store.LogChunk{Seq: seq, Data: block}
	if len(block) > InlineMax {
		c = store.LogChunk{Seq: seq, BlobKey: chunkKey(jobID, seq)}
		if _, err := l.blobs.Put(ctx, c.BlobKey, bytes.NewReader(block)); err != nil {
			return false, logstore.Head{}, fmt.Errorf("store chunk %d: %w", seq, err)
		}
	}
	h, ok, err := accept(ctx, jobID, c)
	if (err != nil || !ok) && c.BlobKey != "" {
		l.blobs.Delete(context.WithoutCancel(ctx), c.BlobKey)
	}
	if err != nil {
		return false, logstore.Head{}, err
	}
	return ok, head(h), nil
}

// Seal implements logstore.Shared.
func (l *Logs) Seal(ctx context.Context, jobID string, chunks int) (logstore.Head, error) {
	h, err := l.db.SealLog(ctx, jobID, chunks)
	if err != nil {
		return logstore.Head{}, err
	}
	return head(h), nil
}

// Fetch implements logstore.Shared: the sealed object once there is one,
// else the chunks' objects from from on, opened one after the other.
func (l *Logs) Fetch(ctx context.Context, jobID string, from int) (io.ReadCloser, logstore.Head, error) {
	sh, err := l.db.GetLogHead(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, logstore.Head{}, nil
	} else if err != nil {
		return nil, logstore.Head{}, err
	}
	h := head(sh)
	if sh.ArchiveKey != "" {
		rc, err := l.blobs.Get(ctx, sh.ArchiveKey, blob.Range{})
		if err != nil {
			return nil, h, fmt.Errorf("read the sealed log: %w", err)
		}
		return rc, h, nil
	}
	if sh.Next <= from {
		return nil, h, nil
	}
	chunks, err := l.db.LogChunks(ctx, jobID, from)
	if err != nil {
		return nil, h, err
	}
	if len(chunks) == 0 {
		// Archived since the head was read: the next fetch finds it.
		return nil, logstore.Head{Exists: true, Next: from}, nil
	}
	return &chunkReader{ctx: ctx, blobs: l.blobs, chunks: chunks}, logstore.Head{Exists: true, Next: chunks[len(chunks)-1].Seq + 1, Sealed: sh.Sealed && chunks[len(chunks)-1].Seq+1 == sh.Next}, nil
}

// chunkReader reads chunks, from their rows or objects, one after the
// other.
type chunkReader struct {
	ctx    context.Context
	blobs  blob.Store
	chunks []store.LogChunk
	cur    io.ReadCloser
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.chunks) == 0 {
				return 0, io.EOF
			}
			c := r.chunks[0]
			r.chunks = r.chunks[1:]
			if c.BlobKey == "" {
				r.cur = io.NopCloser(bytes.NewReader(c.Data))
				continue
			}
			rc, err := r.blobs.Get(r.ctx, c.BlobKey, blob.Range{})
			if err != nil {
				return 0, fmt.Errorf("read chunk %d: %w", c.Seq, err)
			}
			r.cur = rc
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (r *chunkReader) Close() error {
	if r.cur != nil {
		return r.cur.Close()
	}
	return nil
}

// Archive implements logstore.Shared: the sealed log becomes one object
// and the chunks' objects go. Every server archives the same bytes, so a
// second archive changes nothing.
func (l *Logs) Archive(ctx context.Context, jobID string, data io.Reader) error {
	key := archiveKey(jobID)
	if _, err := l.blobs.Put(ctx, key, data); err != nil {
		return err
	}
	_, chunks, err := l.db.ArchiveLog(ctx, jobID, key)
	if err != nil {
		return err
	}
	for _, c := range chunks {
		if err := l.blobs.Delete(ctx, c.BlobKey); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements logstore.Shared.
func (l *Logs) Delete(ctx context.Context, jobID string) error {
	keys, err := l.db.DeleteLog(ctx, jobID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := l.blobs.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
