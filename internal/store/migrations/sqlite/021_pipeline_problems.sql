-- The positioned problems of a pipeline file as a JSON array of
-- {file, line, column, message, severity}: its errors when it is invalid,
-- its warnings when it runs. Pipelines stored before have '' here and
-- their errors as text in diagnostics, which readers parse.
ALTER TABLE pipelines ADD COLUMN problems TEXT NOT NULL DEFAULT '';
