package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// LogHead is what the database knows of a job's shared log.
type LogHead struct {
	JobID string
	// Next is the seq of the next chunk; chunks 0..Next-1 are accepted.
	Next   int
	Sealed bool
	// ArchiveKey is the object holding the sealed log, once written.
	ArchiveKey string
}

// LogChunk is an accepted chunk of a shared log: the object holding it,
// or, for a small chunk, the chunk itself.
type LogChunk struct {
	Seq     int
	BlobKey string // "" when Data holds the chunk
	Data    []byte
}

// ensureLogHead creates the head row of a log if there is none.
func (tx *Tx) ensureLogHead(jobID string) error {
	_, err := tx.exec(`INSERT INTO log_heads (job_id) VALUES ($1) ON CONFLICT (job_id) DO NOTHING`, jobID)
	return wrap("create log head "+jobID, err)
}

// GetLogHead returns a log's head; a log nothing was appended to has
// Next 0.
func (tx *Tx) GetLogHead(jobID string) (LogHead, error) {
	h := LogHead{JobID: jobID}
	err := tx.queryRow(`SELECT next, sealed, archive_key FROM log_heads WHERE job_id = $1`, jobID).Scan(&h.Next, &h.Sealed, &h.ArchiveKey)
	return h, wrap("get log head "+jobID, err)
}

// GetLogHead returns a log's head, or ErrNotFound when the log has none.
func (db *DB) GetLogHead(ctx context.Context, jobID string) (LogHead, error) {
	return db.reader(ctx).GetLogHead(jobID)
}

// AcceptLogChunk makes c chunk seq of a job's log if the log expects
// exactly seq next and is not sealed; it reports whether it did, and the
// head after the attempt. Of several servers offering the same seq,
// exactly one is accepted. On PostgreSQL an accepted chunk costs one
// statement (the head's insert or conditional increment and the chunk's
// row together); on SQLite, two in a transaction.
func (db *DB) AcceptLogChunk(ctx context.Context, jobID string, c LogChunk) (head LogHead, accepted bool, err error) {
	return db.acceptLogChunk(ctx, jobID, c, false)
}

// AcceptLastLogChunk is AcceptLogChunk that also seals the log after c
// when it accepts it, in the same statement on PostgreSQL (a job's last
// chunk sent with its result); a refused chunk leaves the log as it is.
func (db *DB) AcceptLastLogChunk(ctx context.Context, jobID string, c LogChunk) (head LogHead, accepted bool, err error) {
	head, accepted, err = db.acceptLogChunk(ctx, jobID, c, true)
	if accepted {
		head.Sealed = true
	}
	return head, accepted, err
}

func (db *DB) acceptLogChunk(ctx context.Context, jobID string, c LogChunk, seal bool) (head LogHead, accepted bool, err error) {
	if db.dialect == Postgres {
		q := acceptNextChunk
		switch {
		case c.Seq == 0 && seal:
			q = acceptFirstLastChunk
		case c.Seq == 0:
			q = acceptFirstChunk
		case seal:
			q = acceptNextLastChunk
		}
		res, err := db.autocommit(ctx).exec(q, jobID, c.Seq, c.BlobKey, c.Data)
		n := int64(0)
		if err == nil {
			n, err = res.RowsAffected()
		}
		if err != nil {
			return head, false, wrap("accept log chunk", err)
		}
		if n == 1 {
			return LogHead{JobID: jobID, Next: c.Seq + 1}, true, nil
		}
		// Refused, or chunk 0 of a log whose head exists: the
		// transaction below decides.
	}
	err = db.Tx(ctx, func(tx *Tx) error {
		accepted = false
		// Chunk 0 usually creates the head; a head that exists (a retry,
		// another server's chunk 0, a head made by a seal) is updated.
		n := int64(0)
		if c.Seq == 0 {
			res, err := tx.exec(`INSERT INTO log_heads (job_id, next, sealed) VALUES ($1, 1, $2) ON CONFLICT (job_id) DO NOTHING`, jobID, seal)
			if err == nil {
				n, err = res.RowsAffected()
			}
			if err != nil {
				return wrap("accept log chunk", err)
			}
		}
		if n == 0 {
			res, err := tx.exec(`UPDATE log_heads SET next = next + 1, sealed = $3 WHERE job_id = $1 AND next = $2 AND NOT sealed`, jobID, c.Seq, seal)
			if err == nil {
				n, err = res.RowsAffected()
			}
			if err != nil {
				return wrap("accept log chunk", err)
			}
		}
		if n == 1 {
			if _, err := tx.exec(`INSERT INTO log_chunks (job_id, seq, blob_key, data) VALUES ($1, $2, $3, $4)`, jobID, c.Seq, c.BlobKey, c.Data); err != nil {
				return wrap("accept log chunk", err)
			}
			accepted = true
			head = LogHead{JobID: jobID, Next: c.Seq + 1}
			return nil
		}
		var err error
		head, err = tx.GetLogHead(jobID)
		if errors.Is(err, ErrNotFound) {
			head, err = LogHead{JobID: jobID}, nil // nothing accepted yet: chunk 0 comes first
		}
		return err
	})
	return head, accepted, err
}

// AcceptLogChunk's statements on PostgreSQL: the head's change and the
// chunk's row in one, so that a chunk is accepted with its row or not at
// all.
const (
	acceptFirstChunk = `WITH h AS (INSERT INTO log_heads (job_id, next) VALUES ($1, 1) ON CONFLICT (job_id) DO NOTHING RETURNING job_id)
		INSERT INTO log_chunks (job_id, seq, blob_key, data) SELECT job_id, CAST($2 AS INTEGER), CAST($3 AS TEXT), CAST($4 AS BYTEA) FROM h`
	acceptNextChunk = `WITH h AS (UPDATE log_heads SET next = next + 1 WHERE job_id = $1 AND next = CAST($2 AS INTEGER) AND NOT sealed RETURNING job_id)
		INSERT INTO log_chunks (job_id, seq, blob_key, data) SELECT job_id, CAST($2 AS INTEGER), CAST($3 AS TEXT), CAST($4 AS BYTEA) FROM h`
	// The same, sealing the log after the chunk (AcceptLastLogChunk).
	acceptFirstLastChunk = `WITH h AS (INSERT INTO log_heads (job_id, next, sealed) VALUES ($1, 1, TRUE) ON CONFLICT (job_id) DO NOTHING RETURNING job_id)
		INSERT INTO log_chunks (job_id, seq, blob_key, data) SELECT job_id, CAST($2 AS INTEGER), CAST($3 AS TEXT), CAST($4 AS BYTEA) FROM h`
	acceptNextLastChunk = `WITH h AS (UPDATE log_heads SET next = next + 1, sealed = TRUE WHERE job_id = $1 AND next = CAST($2 AS INTEGER) AND NOT sealed RETURNING job_id)
		INSERT INTO log_chunks (job_id, seq, blob_key, data) SELECT job_id, CAST($2 AS INTEGER), CAST($3 AS TEXT), CAST($4 AS BYTEA) FROM h`
)

// SealLog seals a job's log after chunks chunks if it has exactly that
// many; it returns the head after the attempt (Sealed tells whether the
// log is sealed, by this call or before; a head with another Next means
// chunks arrived meanwhile).
func (db *DB) SealLog(ctx context.Context, jobID string, chunks int) (head LogHead, err error) {
	// The usual case, one statement on its own: the log has its chunks.
	head = LogHead{JobID: jobID}
	err = db.autocommit(ctx).queryRow(`UPDATE log_heads SET sealed = TRUE WHERE job_id = $1 AND next = $2
		RETURNING next, sealed, archive_key`, jobID, chunks).Scan(&head.Next, &head.Sealed, &head.ArchiveKey)
	if err == nil {
		return head, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return head, wrap("seal log", err)
	}
	err = db.Tx(ctx, func(tx *Tx) error {
		// Another count, or no head yet (a log without chunks).
		if err := tx.ensureLogHead(jobID); err != nil {
			return err
		}
		if _, err := tx.exec(`UPDATE log_heads SET sealed = TRUE WHERE job_id = $1 AND next = $2`, jobID, chunks); err != nil {
			return wrap("seal log", err)
		}
		head, err = tx.GetLogHead(jobID)
		return err
	})
	return head, err
}

// LogChunks returns the accepted chunks of a log from seq from on, in
// order.
func (db *DB) LogChunks(ctx context.Context, jobID string, from int) ([]LogChunk, error) {
	rows, err := db.reader(ctx).query(`SELECT seq, blob_key, data FROM log_chunks WHERE job_id = $1 AND seq >= $2 ORDER BY seq`, jobID, from)
	if err != nil {
		return nil, wrap("list log chunks", err)
	}
	defer rows.Close()
	var out []LogChunk
	for rows.Next() {
		var c LogChunk
		if err := rows.Scan(&c.Seq, &c.BlobKey, &c.Data); err != nil {
			return nil, wrap("list log chunks", err)
		}
		out = append(out, c)
	}
	return out, wrap("list log chunks", rows.Err())
}

// ArchiveLog records the object holding a sealed log and forgets its
// chunks; it returns the chunks held in objects, for the caller to delete
// those. Only
// the first archive of a log counts: later calls return no chunks and
// keep the first key (the returned head has it).
func (db *DB) ArchiveLog(ctx context.Context, jobID, archiveKey string) (head LogHead, chunks []LogChunk, err error) {
	err = db.Tx(ctx, func(tx *Tx) error {
		chunks = nil
		res, err := tx.exec(`UPDATE log_heads SET archive_key = $2 WHERE job_id = $1 AND sealed AND archive_key = ''`, jobID, archiveKey)
		if err != nil {
			return wrap("archive log", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return wrap("archive log", err)
		} else if n == 1 {
			rows, err := tx.query(`SELECT seq, blob_key FROM log_chunks WHERE job_id = $1 AND blob_key <> '' ORDER BY seq`, jobID)
			if err != nil {
				return wrap("archive log", err)
			}
			for rows.Next() {
				var c LogChunk
				if err := rows.Scan(&c.Seq, &c.BlobKey); err != nil {
					rows.Close()
					return wrap("archive log", err)
				}
				chunks = append(chunks, c)
			}
			rows.Close()
			if _, err := tx.exec(`DELETE FROM log_chunks WHERE job_id = $1`, jobID); err != nil {
				return wrap("archive log", err)
			}
		}
		head, err = tx.GetLogHead(jobID)
		if err != nil {
			return fmt.Errorf("archive log: %w", err)
		}
		return nil
	})
	return head, chunks, err
}

// DeleteLog forgets a log's head and chunks and returns the objects that
// held it, for the caller to delete.
func (db *DB) DeleteLog(ctx context.Context, jobID string) (keys []string, err error) {
	err = db.Tx(ctx, func(tx *Tx) error {
		keys = nil
		h, err := tx.GetLogHead(jobID)
		if errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if h.ArchiveKey != "" {
			keys = append(keys, h.ArchiveKey)
		}
		rows, err := tx.query(`SELECT blob_key FROM log_chunks WHERE job_id = $1 AND blob_key <> ''`, jobID)
		if err != nil {
			return wrap("delete log", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return wrap("delete log", err)
			}
			keys = append(keys, k)
		}
		rows.Close()
		if _, err := tx.exec(`DELETE FROM log_chunks WHERE job_id = $1`, jobID); err != nil {
			return wrap("delete log", err)
		}
		_, err = tx.exec(`DELETE FROM log_heads WHERE job_id = $1`, jobID)
		return wrap("delete log", err)
	})
	return keys, err
}
