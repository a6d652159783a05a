-- What an agent removed over its image disk budget since it started, as
-- it reports it in its polls: a JSON object (ci.ImagePruning), '' if
-- nothing.
ALTER TABLE agents ADD COLUMN image_pruning TEXT NOT NULL DEFAULT '';
