package vault_test

import (
	"strings"
	"testing"

	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

// TestNotificationEndpointsRotate: a notification's sealed endpoint and
// secret are re-sealed by a key rotation, and another key is refused
// while they are sealed with this one.
func TestNotificationEndpointsRotate(t *testing.T) {
	ctx := t.Context()
	db := enginetest.OpenNew(t, "sqlite")
	old, next := newKey(t), newKey(t)
	v, err := vault.New(ctx, vault.Config{Store: db, Key: old})
	if err != nil {
		t.Fatal(err)
	}
	n := &store.Notification{ID: "n1", Name: "team"}
	if n.SlackEndpoint, err = v.SealNotification(n.ID, vault.NotificationSlackEndpoint, "https://hooks.example/services/tok"); err != nil {
		t.Fatal(err)
	}
	if n.WebhookSecret, err = v.SealNotification(n.ID, vault.NotificationWebhookSecret, "hmac-key"); err != nil {
		t.Fatal(err)
	}
	if err := db.Tx(ctx, func(tx *store.Tx) error { return tx.CreateNotification(n) }); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.New(ctx, vault.Config{Store: db, Key: next}); err == nil || !strings.Contains(err.Error(), "notification") {
		t.Errorf("vault.New with another key: %v, want refused naming the notifications", err)
	}
	if _, err := vault.Rotate(ctx, db, old, next); err != nil {
		t.Fatal(err)
	}
	v2, err := vault.New(ctx, vault.Config{Store: db, Key: next})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.GetNotification(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := v2.OpenNotification(got.ID, vault.NotificationSlackEndpoint, got.SlackEndpoint); err != nil || u.Reveal() != "https://hooks.example/services/tok" {
		t.Errorf("slack endpoint after rotation: %q, %v", u.Reveal(), err)
	}
	if s, err := v2.OpenNotification(got.ID, vault.NotificationWebhookSecret, got.WebhookSecret); err != nil || s.Reveal() != "hmac-key" {
		t.Errorf("webhook secret after rotation: %q, %v", s.Reveal(), err)
	}
	// A field's ciphertext does not open as another field.
	if _, err := v2.OpenNotification(got.ID, vault.NotificationWebhookEndpoint, got.SlackEndpoint); err == nil {
		t.Error("the Slack endpoint opened as the webhook endpoint")
	}
}
