-- Organisation notifications: each is one rule, as Semaphore's. The
-- filters (projects, branches, pipelines: exact names or /regex/; results)
-- are JSON arrays of strings, an empty array matching anything. The Slack
-- and webhook endpoints and the webhook secret are ciphertexts
-- (internal/secret, each bound to its notification and field); "" when the
-- target is not set.
CREATE TABLE notifications (
	id               TEXT PRIMARY KEY,
	name             TEXT NOT NULL UNIQUE,
	projects         TEXT NOT NULL CHECK (json_valid(projects)),
	branches         TEXT NOT NULL CHECK (json_valid(branches)),
	pipelines        TEXT NOT NULL CHECK (json_valid(pipelines)),
	results          TEXT NOT NULL CHECK (json_valid(results)),
	slack_endpoint   TEXT NOT NULL,
	slack_channels   TEXT NOT NULL CHECK (json_valid(slack_channels)),
	webhook_endpoint TEXT NOT NULL,
	webhook_secret   TEXT NOT NULL,
	created_at       TEXT NOT NULL,
	created_by       TEXT NOT NULL,
	updated_at       TEXT NOT NULL,
	updated_by       TEXT NOT NULL
);

-- The outbox of notification messages: a row per message to send (one per
-- target and Slack channel), written in the transaction that ends the
-- pipeline, so that none is lost to a crash. A sender claims due rows
-- (claimed_by, claim_until: a lease, so that with several servers each is
-- sent once, and a crashed sender's claim expires), sends, and records
-- the attempt. pipeline_id is '' for a test message.
CREATE TABLE notification_deliveries (
	id              TEXT PRIMARY KEY,
	notification_id TEXT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
	pipeline_id     TEXT NOT NULL,
	target          TEXT NOT NULL,
	channel         TEXT NOT NULL,
	state           TEXT NOT NULL,
	attempts        INTEGER NOT NULL,
	next_at         TEXT NOT NULL,
	claimed_by      TEXT NOT NULL,
	claim_until     TEXT,
	http_status     INTEGER NOT NULL,
	error           TEXT NOT NULL,
	created_at      TEXT NOT NULL,
	finished_at     TEXT
);
CREATE UNIQUE INDEX notification_deliveries_once
	ON notification_deliveries (notification_id, pipeline_id, target, channel) WHERE pipeline_id <> '';
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_at);
CREATE INDEX notification_deliveries_list ON notification_deliveries (notification_id, created_at);

-- Every attempt of a delivery, with the HTTP status it got (0 when no
-- answer came) and the error.
CREATE TABLE notification_attempts (
	delivery_id TEXT NOT NULL REFERENCES notification_deliveries (id) ON DELETE CASCADE,
	n           INTEGER NOT NULL,
	at          TEXT NOT NULL,
	http_status INTEGER NOT NULL,
	error       TEXT NOT NULL,
	duration_ms INTEGER NOT NULL,
	PRIMARY KEY (delivery_id, n)
);
