-- schedule_runs_pending records, in the transaction that claims a
-- schedule's tick (moves its next_run on), that the tick's workflow is
-- not created yet, with what the schedule was when claimed (its name, the
-- trigger's text; its branch, pipeline file and declared parameters). The
-- transaction that creates the workflow deletes the row, and creates
-- nothing if it is gone (another server created it): the primary key
-- makes a (schedule, tick) pending once, and its deletion lets one
-- creation through. A failed run (a missing branch) deletes it too. A row
-- whose lease_until passed (the claiming server died between the claim and
-- the creation) is taken over by the next tick of any server, which moves
-- lease_until on with a conditional update and runs the tick once.
CREATE TABLE schedule_runs_pending (
	schedule_id   TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
	tick          TIMESTAMPTZ NOT NULL,
	project_id    TEXT NOT NULL,
	name          TEXT NOT NULL,
	branch        TEXT NOT NULL,
	pipeline_file TEXT NOT NULL,
	parameters    TEXT NOT NULL,
	lease_until   TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (schedule_id, tick)
);
CREATE INDEX schedule_runs_pending_lease ON schedule_runs_pending (lease_until);
