package vault

import (
	"errors"
	"fmt"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
)

// forgeTokenAD binds a sealed forge token to its project and to the forge
// it was given for (kind and URL): moved to another project, or opened
// after the project's forge kind or URL changed, it does not open, so the
// token is never sent anywhere but where its owner meant it to go.
func forgeTokenAD(p *ci.Project) string {
	return secret.AD("baton forge token v2", p.ID, p.Forge, p.ForgeURL)
}

// legacyForgeTokenAD is the associated data of tokens sealed before they
// were bound to their forge; Upgrade re-seals them.
func legacyForgeTokenAD(projectID string) string {
	return secret.AD("baton forge token", projectID)
}

// webhookSecretAD binds a sealed webhook secret to its project.
func webhookSecretAD(projectID string) string {
	return secret.AD("baton webhook secret", projectID)
}

// SealForgeToken encrypts a project's forge API token for
// ci.Project.ForgeToken, bound to p's ID, forge kind and forge URL (set
// them first); "" stays "".
func (v *Vault) SealForgeToken(p *ci.Project, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	if p.ID == "" {
		return "", errors.New("forge token of a project without ID")
	}
	return v.key.Seal([]byte(token), forgeTokenAD(p))
}

// ForgeToken decrypts a project's forge API token ("" when none is set).
// A token stored for another forge kind or URL than p's does not open.
func (v *Vault) ForgeToken(p *ci.Project) (secret.Value, error) {
	if p.ForgeToken == "" {
		return secret.Value{}, nil
	}
	if p.ID == "" {
		return secret.Value{}, errors.New("forge token of a project without ID")
	}
	b, err := v.key.Open(p.ForgeToken, forgeTokenAD(p))
	if err != nil {
		return secret.Value{}, fmt.Errorf("the forge token was not stored for %s %q: %w", forgeKind(p.Forge), p.ForgeURL, err)
	}
	return secret.NewValue(string(b)), nil
}

func forgeKind(k string) string {
	if k == "" {
		return "git"
	}
	return k
}

// SealWebhookSecret encrypts a project's webhook secret for
// ci.Project.WebhookSecret; "" stays "".
func (v *Vault) SealWebhookSecret(projectID, plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	if projectID == "" {
		return "", errors.New("webhook secret of a project without ID")
	}
	return v.key.Seal([]byte(plain), webhookSecretAD(projectID))
}

// WebhookSecret decrypts a project's webhook secret ("" when none is set).
func (v *Vault) WebhookSecret(p *ci.Project) (secret.Value, error) {
	if p.WebhookSecret == "" {
		return secret.Value{}, nil
	}
	b, err := v.key.Open(p.WebhookSecret, webhookSecretAD(p.ID))
	if err != nil {
		return secret.Value{}, fmt.Errorf("open the webhook secret: %w", err)
	}
	return secret.NewValue(string(b)), nil
}

// sealed reports whether a stored value is a ciphertext (rather than a
// plaintext stored by an older version).
func sealed(s string) bool {
	_, err := secret.KeyIDOf(s)
	return err == nil
}

// upgradeProjects seals what older versions stored in plain (webhook
// secrets) and re-binds forge tokens sealed before they were bound to
// their forge. It returns how many projects it changed.
func (v *Vault) upgradeProjects(tx *store.Tx) (int, error) {
	projects, err := tx.ListProjects()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range projects {
		changed := false
		if p.WebhookSecret != "" && !sealed(p.WebhookSecret) {
			if p.WebhookSecret, err = v.SealWebhookSecret(p.ID, p.WebhookSecret); err != nil {
				return n, err
			}
			changed = true
		}
		if p.ForgeToken != "" {
			// A token that opens neither way stays as it is: it fails
			// where it is used, with the reason.
			if _, err := v.key.Open(p.ForgeToken, forgeTokenAD(p)); err != nil {
				if plain, err := v.key.Open(p.ForgeToken, legacyForgeTokenAD(p.ID)); err == nil {
					if p.ForgeToken, err = v.key.Seal(plain, forgeTokenAD(p)); err != nil {
						return n, err
					}
					changed = true
				}
			}
		}
		if changed {
			if err := tx.UpdateProject(p); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
