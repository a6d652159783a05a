package vault

import (
	"errors"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/secret"
)

// forgeTokenAD binds a sealed forge token to its project.
func forgeTokenAD(projectID string) string {
	return secret.AD("baton forge token", projectID)
}

// SealForgeToken encrypts a project's forge API token for
// ci.Project.ForgeToken; "" stays "".
func (v *Vault) SealForgeToken(projectID, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	return v.key.Seal([]byte(token), forgeTokenAD(projectID))
}

// ForgeToken decrypts a project's forge API token ("" when none is set).
func (v *Vault) ForgeToken(p *ci.Project) (secret.Value, error) {
	if p.ForgeToken == "" {
		return secret.Value{}, nil
	}
	if p.ID == "" {
		return secret.Value{}, errors.New("forge token of a project without ID")
	}
	b, err := v.key.Open(p.ForgeToken, forgeTokenAD(p.ID))
	if err != nil {
		return secret.Value{}, err
	}
	return secret.NewValue(string(b)), nil
}
