package store

import (
	"context"
	"fmt"
	"time"

	"github.com/batonci/baton/internal/ids"
)

// Notification is an organisation notification: one rule (filters on
// projects, branches, pipeline files and results) and where to send what
// it matches (Slack, a webhook, or both). The endpoints and the webhook
// secret are ciphertexts; sealing and opening are the caller's
// (internal/vault). Not to be confused with Notify, which wakes up
// listeners of this process and other servers.
type Notification struct {
	ID   string
	Name string
	// Filters: exact names or /regex/; empty matches anything. Results
	// are ci.Result values.
	Projects  []string
	Branches  []string
	Pipelines []string
	Results   []string
	// SlackEndpoint is the sealed incoming-webhook URL, "" for none.
	SlackEndpoint string
	SlackChannels []string
	// WebhookEndpoint and WebhookSecret are sealed, "" for none.
	WebhookEndpoint string
	WebhookSecret   string
	CreatedAt       time.Time
	CreatedBy       string
	UpdatedAt       time.Time
	UpdatedBy       string
}

// The targets of a notification delivery.
const (
	TargetSlack   = "slack"
	TargetWebhook = "webhook"
)

// The states of a notification delivery.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// NotificationDelivery is one message of the notification outbox: to one
// target (and Slack channel) about one pipeline ("" for a test message).
type NotificationDelivery struct {
	ID             string
	NotificationID string
	PipelineID     string
	Target         string
	// Channel is the Slack channel, "" for the endpoint's own.
	Channel string
	State   string
	// Attempts counts the claims: each is one try at sending.
	Attempts int
	// NextAt is when a pending delivery is due.
	NextAt time.Time
	// ClaimedBy and ClaimUntil are the lease of the sender trying it.
	ClaimedBy  string
	ClaimUntil time.Time
	// HTTPStatus and Error are those of the last attempt.
	HTTPStatus int
	Error      string
	CreatedAt  time.Time
	FinishedAt time.Time
	// AttemptLog lists the attempts, oldest first (filled by
	// ListNotificationDeliveries).
	AttemptLog []NotificationAttempt
}

// NotificationAttempt is one try at sending a delivery.
type NotificationAttempt struct {
	N  int
	At time.Time
	// HTTPStatus is the endpoint's answer, 0 when none came.
	HTTPStatus int
	Error      string
	Duration   time.Duration
}

const notificationCols = `id, name, projects, branches, pipelines, results, slack_endpoint, slack_channels,
	webhook_endpoint, webhook_secret, created_at, created_by, updated_at, updated_by`

func scanNotification(s scanner) (*Notification, error) {
	n := &Notification{}
	err := s.Scan(&n.ID, &n.Name, listCol{&n.Projects}, listCol{&n.Branches}, listCol{&n.Pipelines}, listCol{&n.Results},
		&n.SlackEndpoint, listCol{&n.SlackChannels}, &n.WebhookEndpoint, &n.WebhookSecret,
		timeCol{&n.CreatedAt}, &n.CreatedBy, timeCol{&n.UpdatedAt}, &n.UpdatedBy)
	return n, err
}

// CreateNotification stores a new notification, giving it an ID if it has
// none; ErrConflict if the name is taken.
func (tx *Tx) CreateNotification(n *Notification) error {
	if n.ID == "" {
		n.ID = ids.New()
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = time.Now()
	}
	if n.UpdatedAt.IsZero() {
		n.UpdatedAt = n.CreatedAt
	}
	normTime(&n.CreatedAt)
	normTime(&n.UpdatedAt)
	_, err := tx.exec(`INSERT INTO notifications (`+notificationCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		n.ID, n.Name, listArg(n.Projects), listArg(n.Branches), listArg(n.Pipelines), listArg(n.Results),
		n.SlackEndpoint, listArg(n.SlackChannels), n.WebhookEndpoint, n.WebhookSecret,
		tx.ts(n.CreatedAt), n.CreatedBy, tx.ts(n.UpdatedAt), n.UpdatedBy)
	return wrap("create notification", err)
}

// UpdateNotification writes every field of n but its ID and creation;
// ErrNotFound if it does not exist, ErrConflict if renamed to a taken name.
func (tx *Tx) UpdateNotification(n *Notification) error {
	if n.UpdatedAt.IsZero() {
		n.UpdatedAt = time.Now()
	}
	normTime(&n.UpdatedAt)
	return tx.execOne("update notification", `UPDATE notifications SET name = $2, projects = $3, branches = $4,
		pipelines = $5, results = $6, slack_endpoint = $7, slack_channels = $8, webhook_endpoint = $9,
		webhook_secret = $10, updated_at = $11, updated_by = $12 WHERE id = $1`,
		n.ID, n.Name, listArg(n.Projects), listArg(n.Branches), listArg(n.Pipelines), listArg(n.Results),
		n.SlackEndpoint, listArg(n.SlackChannels), n.WebhookEndpoint, n.WebhookSecret, tx.ts(n.UpdatedAt), n.UpdatedBy)
}

// DeleteNotification deletes a notification by name, and its deliveries.
func (tx *Tx) DeleteNotification(name string) error {
	return tx.execOne("delete notification", `DELETE FROM notifications WHERE name = $1`, name)
}

// GetNotification returns a notification by name or ID.
func (tx *Tx) GetNotification(nameOrID string) (*Notification, error) {
	n, err := scanNotification(tx.queryRow(`SELECT `+notificationCols+` FROM notifications
		WHERE name = $1 OR id = $1 ORDER BY (name = $1) DESC LIMIT 1`, nameOrID))
	if err != nil {
		return nil, wrap("get notification", err)
	}
	return n, nil
}

// GetNotification returns a notification by name or ID.
func (db *DB) GetNotification(ctx context.Context, nameOrID string) (*Notification, error) {
	return db.reader(ctx).GetNotification(nameOrID)
}

// ListNotifications returns every notification by name.
func (tx *Tx) ListNotifications() ([]*Notification, error) {
	ns, err := collect(tx, scanNotification, `SELECT `+notificationCols+` FROM notifications ORDER BY name`)
	return ns, wrap("list notifications", err)
}

// ListNotifications returns every notification by name.
func (db *DB) ListNotifications(ctx context.Context) ([]*Notification, error) {
	return db.reader(ctx).ListNotifications()
}

const notificationDeliveryCols = `id, notification_id, pipeline_id, target, channel, state, attempts, next_at,
	claimed_by, claim_until, http_status, error, created_at, finished_at`

func scanNotificationDelivery(s scanner) (*NotificationDelivery, error) {
	d := &NotificationDelivery{}
	err := s.Scan(&d.ID, &d.NotificationID, &d.PipelineID, &d.Target, &d.Channel, &d.State, &d.Attempts,
		timeCol{&d.NextAt}, &d.ClaimedBy, timeCol{&d.ClaimUntil}, &d.HTTPStatus, &d.Error,
		timeCol{&d.CreatedAt}, timeCol{&d.FinishedAt})
	return d, err
}

// EnqueueNotificationDeliveries adds deliveries to the outbox, pending and
// due at their NextAt (CreatedAt when zero). A pipeline's delivery to a
// target and channel is enqueued once: a second one is ignored, so that
// whoever ends a pipeline may enqueue again safely. It returns the number
// enqueued.
func (tx *Tx) EnqueueNotificationDeliveries(ds []*NotificationDelivery) (int, error) {
	n := 0
	for _, d := range ds {
		if d.ID == "" {
			d.ID = ids.New()
		}
		if d.CreatedAt.IsZero() {
			d.CreatedAt = time.Now()
		}
		normTime(&d.CreatedAt)
		if d.NextAt.IsZero() {
			d.NextAt = d.CreatedAt
		}
		normTime(&d.NextAt)
		d.State = DeliveryPending
		res, err := tx.exec(`INSERT INTO notification_deliveries (`+notificationDeliveryCols+`)
			VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, '', NULL, 0, '', $7, NULL)
			ON CONFLICT DO NOTHING`,
			d.ID, d.NotificationID, d.PipelineID, d.Target, d.Channel, tx.ts(d.NextAt), tx.ts(d.CreatedAt))
		if err != nil {
			return n, wrap("enqueue notification", err)
		}
		if k, err := res.RowsAffected(); err == nil {
			n += int(k)
		}
	}
	return n, nil
}

// ClaimNotificationDeliveries takes up to limit pending deliveries due at
// now whose claim, if any, has expired, for owner until now+lease, and
// counts an attempt for each. Claims never collide: on PostgreSQL the
// rows are taken with FOR UPDATE SKIP LOCKED, on SQLite the write
// transaction excludes every other writer.
func (db *DB) ClaimNotificationDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*NotificationDelivery, error) {
	var out []*NotificationDelivery
	err := db.Tx(ctx, func(tx *Tx) error {
		lock := ""
		if tx.db.dialect == Postgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		var err error
		out, err = collect(tx, scanNotificationDelivery, `UPDATE notification_deliveries
			SET claimed_by = $1, claim_until = $2, attempts = attempts + 1
			WHERE id IN (SELECT id FROM notification_deliveries
				WHERE state = 'pending' AND next_at <= $3 AND (claim_until IS NULL OR claim_until <= $3)
				ORDER BY next_at LIMIT $4`+lock+`)
			RETURNING `+notificationDeliveryCols,
			owner, tx.ts(now.Add(lease)), tx.ts(now), limit)
		return err
	})
	return out, wrap("claim notifications", err)
}

// NextNotificationDue returns when the earliest pending delivery is due
// (its claim's end if it is claimed); ok is false when none is pending.
func (db *DB) NextNotificationDue(ctx context.Context) (at time.Time, ok bool, err error) {
	var next, claim time.Time
	err = db.reader(ctx).queryRow(`SELECT next_at, claim_until FROM notification_deliveries
		WHERE state = 'pending' ORDER BY next_at LIMIT 1`).Scan(timeCol{&next}, timeCol{&claim})
	if err != nil {
		err = wrap("next notification", err)
		if isNotFound(err) {
			return time.Time{}, false, nil
		}
		return time.Time{}, false, err
	}
	if claim.After(next) {
		next = claim
	}
	return next, true, nil
}

// FinishNotificationAttempt records owner's attempt a at delivery id and
// its outcome: state DeliverySent or DeliveryFailed ends it (at a.At),
// DeliveryPending makes it due again at next. It returns ErrNotFound when
// owner's claim was lost (the lease ran out and another sender took it);
// the attempt is recorded then too.
func (db *DB) FinishNotificationAttempt(ctx context.Context, owner, id string, a NotificationAttempt, state string, next time.Time) error {
	normTime(&a.At)
	lost := false
	err := db.Tx(ctx, func(tx *Tx) error {
		lost = false
		if _, err := tx.exec(`INSERT INTO notification_attempts (delivery_id, n, at, http_status, error, duration_ms)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			id, a.N, tx.ts(a.At), a.HTTPStatus, a.Error, ms(a.Duration)); err != nil {
			return wrap("record notification attempt", err)
		}
		var finished any
		if state != DeliveryPending {
			finished = tx.ts(a.At)
			next = a.At
		}
		err := tx.execOne("finish notification attempt", `UPDATE notification_deliveries
			SET state = $3, next_at = $4, claimed_by = '', claim_until = NULL, http_status = $5, error = $6, finished_at = $7
			WHERE id = $1 AND claimed_by = $2 AND attempts = $8 AND state = 'pending'`,
			id, owner, state, tx.ts(next), a.HTTPStatus, a.Error, finished, a.N)
		if isNotFound(err) {
			lost = true
			return nil
		}
		return err
	})
	if err == nil && lost {
		err = fmt.Errorf("finish notification attempt: the claim was lost: %w", ErrNotFound)
	}
	return err
}

// ListNotificationDeliveries returns a notification's latest deliveries,
// newest first, at most limit, each with its attempts.
func (db *DB) ListNotificationDeliveries(ctx context.Context, notificationID string, limit int) ([]*NotificationDelivery, error) {
	var out []*NotificationDelivery
	err := db.view(ctx, func(tx *Tx) error {
		var err error
		out, err = collect(tx, scanNotificationDelivery, `SELECT `+notificationDeliveryCols+`
			FROM notification_deliveries WHERE notification_id = $1 ORDER BY created_at DESC, id LIMIT $2`,
			notificationID, limit)
		if err != nil {
			return err
		}
		for _, d := range out {
			rows, err := tx.query(`SELECT n, at, http_status, error, duration_ms FROM notification_attempts
				WHERE delivery_id = $1 ORDER BY n`, d.ID)
			if err != nil {
				return err
			}
			for rows.Next() {
				var a NotificationAttempt
				var msec int64
				if err := rows.Scan(&a.N, timeCol{&a.At}, &a.HTTPStatus, &a.Error, &msec); err != nil {
					rows.Close()
					return err
				}
				a.Duration = time.Duration(msec) * time.Millisecond
				d.AttemptLog = append(d.AttemptLog, a)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, wrap("list notification deliveries", err)
}

// GetNotificationDelivery returns one delivery.
func (db *DB) GetNotificationDelivery(ctx context.Context, id string) (*NotificationDelivery, error) {
	d, err := scanNotificationDelivery(db.reader(ctx).queryRow(`SELECT `+notificationDeliveryCols+`
		FROM notification_deliveries WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("get notification delivery", err)
	}
	return d, nil
}

// PruneNotificationDeliveries deletes the finished deliveries of a
// notification beyond its keep newest ones.
func (tx *Tx) PruneNotificationDeliveries(notificationID string, keep int) error {
	_, err := tx.exec(`DELETE FROM notification_deliveries WHERE notification_id = $1 AND state <> 'pending'
		AND id NOT IN (SELECT id FROM notification_deliveries WHERE notification_id = $1
			ORDER BY created_at DESC, id LIMIT $2)`, notificationID, keep)
	if err != nil {
		return fmt.Errorf("prune notification deliveries: %w", err)
	}
	return nil
}
