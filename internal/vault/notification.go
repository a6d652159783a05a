package vault

import (
	"errors"
	"fmt"

	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
)

// Organisation notifications keep their Slack and webhook endpoints (an
// incoming-webhook URL is a credential) and their webhook secret sealed,
// each bound to its notification's ID and its field, so that a ciphertext
// copied to another notification or field does not open.

// The sealed fields of a notification.
const (
	NotificationSlackEndpoint   = "slack_endpoint"
	NotificationWebhookEndpoint = "webhook_endpoint"
	NotificationWebhookSecret   = "webhook_secret"
)

func notificationAD(id, field string) string {
	return secret.AD("baton notification", id, field)
}

// SealNotification encrypts a field of notification id; "" stays "".
func (v *Vault) SealNotification(id, field, plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	if id == "" {
		return "", errors.New("notification without ID")
	}
	return v.key.Seal([]byte(plain), notificationAD(id, field))
}

// OpenNotification decrypts a field of notification id ("" when unset).
func (v *Vault) OpenNotification(id, field, sealed string) (secret.Value, error) {
	if sealed == "" {
		return secret.Value{}, nil
	}
	b, err := v.key.Open(sealed, notificationAD(id, field))
	if err != nil {
		return secret.Value{}, fmt.Errorf("the %s of notification %s does not open: %w", field, id, err)
	}
	return secret.NewValue(string(b)), nil
}

// sealedNotificationFields returns pointers to n's sealed fields.
func sealedNotificationFields(n *store.Notification) map[string]*string {
	return map[string]*string{
		NotificationSlackEndpoint:   &n.SlackEndpoint,
		NotificationWebhookEndpoint: &n.WebhookEndpoint,
		NotificationWebhookSecret:   &n.WebhookSecret,
	}
}

// rotateNotifications re-seals every notification's sealed fields.
func rotateNotifications(tx *store.Tx, reseal func(ct, ad string) (string, error)) error {
	ns, err := tx.ListNotifications()
	if err != nil {
		return err
	}
	for _, n := range ns {
		for field, p := range sealedNotificationFields(n) {
			if *p == "" {
				continue
			}
			if *p, err = reseal(*p, notificationAD(n.ID, field)); err != nil {
				return fmt.Errorf("%s of notification %q: %w", field, n.Name, err)
			}
		}
		if err := tx.UpdateNotification(n); err != nil {
			return err
		}
	}
	return nil
}

// sealedNotifications counts the notifications with a sealed field.
func sealedNotifications(tx *store.Tx) (int, error) {
	ns, err := tx.ListNotifications()
	if err != nil {
		return 0, err
	}
	k := 0
	for _, n := range ns {
		if n.SlackEndpoint != "" || n.WebhookEndpoint != "" || n.WebhookSecret != "" {
			k++
		}
	}
	return k, nil
}
