-- Job logs shared by every server through the object storage. The
-- database decides which chunk is chunk N of a job's log and when the log
-- is sealed, so any server may append to or seal any log.
--
-- log_heads has one row per log: next is the seq the log expects next;
-- a chunk is accepted by a conditional update of next, and sealing by a
-- conditional update of sealed, so of two servers racing for the same
-- seq (or to seal) exactly one wins. archive_key names the one sealed
-- object once it is written; the chunks are deleted then.
CREATE TABLE log_heads (
	job_id      TEXT PRIMARY KEY,
	next        INTEGER NOT NULL DEFAULT 0,
	sealed      BOOLEAN NOT NULL DEFAULT FALSE,
	archive_key TEXT NOT NULL DEFAULT ''
);

-- log_chunks names the object holding each accepted chunk of a log that
-- is not archived yet.
CREATE TABLE log_chunks (
	job_id   TEXT NOT NULL,
	seq      INTEGER NOT NULL,
	blob_key TEXT NOT NULL,
	PRIMARY KEY (job_id, seq)
);
