package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/batonci/baton/internal/ids"
)

// Delivery records a webhook request received, for the project's
// "recent deliveries" page.
type Delivery struct {
	ID string
	// ProjectID is the project the webhook was for; "" when none matched.
	ProjectID string
	// Event is the forge's event name ("push", "pull_request"...).
	Event string
	// Status says what Baton made of it ("triggered", "ignored",
	// "rejected"...).
	Status string
	// HTTPStatus is the status Baton answered with.
	HTTPStatus int
	Message    string
	// Payload is the request body.
	Payload   []byte
	CreatedAt time.Time
	// Headers are the request headers a redelivery needs (the forge's
	// event and delivery headers; never the signature).
	Headers map[string]string
	// RedeliveryOf is the delivery this one repeats, if any.
	RedeliveryOf string
}

const deliveryCols = `id, project_id, event, status, http_status, message, payload, created_at, headers, redelivery_of`

func scanDelivery(s scanner) (*Delivery, error) {
	d := &Delivery{}
	var headers string
	err := s.Scan(&d.ID, strCol{&d.ProjectID}, &d.Event, &d.Status, &d.HTTPStatus, &d.Message,
		&d.Payload, timeCol{&d.CreatedAt}, &headers, &d.RedeliveryOf)
	if len(d.Payload) == 0 {
		d.Payload = nil
	}
	if err == nil && headers != "" {
		err = json.Unmarshal([]byte(headers), &d.Headers)
	}
	if len(d.Headers) == 0 {
		d.Headers = nil
	}
	return d, err
}

// RecordDelivery stores a webhook delivery, giving it an ID if it has none
// and a CreatedAt if it is zero. An empty Payload reads back as nil.
func (tx *Tx) RecordDelivery(d *Delivery) error {
	if d.ID == "" {
		d.ID = ids.New()
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now()
	}
	normTime(&d.CreatedAt)
	var payload any
	if len(d.Payload) > 0 {
		payload = d.Payload
	}
	headers, err := json.Marshal(d.Headers)
	if err != nil {
		return wrap("record delivery", err)
	}
	if d.Headers == nil {
		headers = []byte("{}")
	}
	_, err = tx.exec(`INSERT INTO deliveries (`+deliveryCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		d.ID, nullStr(d.ProjectID), d.Event, d.Status, d.HTTPStatus, d.Message, payload,
		tx.ts(d.CreatedAt), string(headers), d.RedeliveryOf)
	return wrap("record delivery", err)
}

// ListDeliveries returns a project's deliveries (every delivery when
// projectID is ""), newest first, at most limit of them (all when limit
// is 0).
func (tx *Tx) ListDeliveries(projectID string, limit int) ([]*Delivery, error) {
	q := `SELECT ` + deliveryCols + ` FROM deliveries`
	var args []any
	if projectID != "" {
		args = append(args, projectID)
		q += ` WHERE project_id = $1`
	}
	q += ` ORDER BY created_at DESC, id`
	if limit > 0 {
		args = append(args, limit)
		q += fmt.Sprintf(` LIMIT $%d`, len(args))
	}
	ds, err := collect(tx, scanDelivery, q, args...)
	return ds, wrap("list deliveries", err)
}

// ListDeliveries returns a project's deliveries (every delivery when
// projectID is ""), newest first, at most limit of them (all when limit
// is 0).
func (db *DB) ListDeliveries(ctx context.Context, projectID string, limit int) ([]*Delivery, error) {
	return db.reader(ctx).ListDeliveries(projectID, limit)
}

// GetDelivery returns one delivery of a project.
func (tx *Tx) GetDelivery(projectID, id string) (*Delivery, error) {
	d, err := scanDelivery(tx.queryRow(`SELECT `+deliveryCols+` FROM deliveries
		WHERE project_id = $1 AND id = $2`, projectID, id))
	if err != nil {
		return nil, wrap("get delivery "+id, err)
	}
	return d, nil
}

// GetDelivery returns one delivery of a project.
func (db *DB) GetDelivery(ctx context.Context, projectID, id string) (*Delivery, error) {
	return db.reader(ctx).GetDelivery(projectID, id)
}

// DeliveryAccepted reports whether a project already accepted a delivery
// with that ID (one not rejected, recorded under the ID or as a repeat of
// it), so that a forge sending it again does not run it again.
func (db *DB) DeliveryAccepted(ctx context.Context, projectID, id string) (bool, error) {
	var n int
	err := db.reader(ctx).queryRow(`SELECT COUNT(*) FROM deliveries
		WHERE project_id = $1 AND (id = $2 OR redelivery_of = $2) AND status <> 'rejected'`, projectID, id).Scan(&n)
	return n > 0, wrap("find delivery "+id, err)
}

// PruneDeliveries keeps a project's newest keep deliveries, of which at
// most keepRejected rejected ones, and deletes the rest.
func (tx *Tx) PruneDeliveries(projectID string, keep, keepRejected int) error {
	_, err := tx.exec(`DELETE FROM deliveries WHERE project_id = $1 AND status = 'rejected' AND id NOT IN (
		SELECT id FROM deliveries WHERE project_id = $1 AND status = 'rejected' ORDER BY created_at DESC, id LIMIT $2)`,
		projectID, keepRejected)
	if err != nil {
		return wrap("prune deliveries", err)
	}
	_, err = tx.exec(`DELETE FROM deliveries WHERE project_id = $1 AND id NOT IN (
		SELECT id FROM deliveries WHERE project_id = $1 ORDER BY created_at DESC, id LIMIT $2)`,
		projectID, keep)
	return wrap("prune deliveries", err)
}
