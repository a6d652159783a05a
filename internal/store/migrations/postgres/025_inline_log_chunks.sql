-- A small chunk of a running job's log is kept in its row (data, with an
-- empty blob_key) instead of an object of its own: most chunks are a few
-- hundred bytes, and an object costs a request to the object storage to
-- write, read and delete. A sealed log of several chunks is archived as
-- one object as before, which deletes the rows.
ALTER TABLE log_chunks ADD COLUMN data BYTEA;
