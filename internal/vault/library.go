package vault

import (
	"errors"
	"fmt"

	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
)

// A script library's repository token is sealed bound to the library's ID
// and repository URL: copied to another library, or opened after the URL
// changed, it does not open, so the token only ever goes to the
// repository it was given for.
func libraryTokenAD(l *store.Library) string {
	return secret.AD("baton library token", l.ID, l.RepoURL)
}

// A library's SSH private key is sealed the same way, under its own label.
func librarySSHKeyAD(l *store.Library) string {
	return secret.AD("baton library ssh key", l.ID, l.RepoURL)
}

// SealLibrarySSHKey encrypts a library's SSH private key for
// store.Library.SSHKey, bound to l's ID and repository URL (set them
// first); "" stays "".
func (v *Vault) SealLibrarySSHKey(l *store.Library, key string) (string, error) {
	if key == "" {
		return "", nil
	}
	if l.ID == "" {
		return "", errors.New("SSH key of a library without ID")
	}
	return v.key.Seal([]byte(key), librarySSHKeyAD(l))
}

// LibrarySSHKey decrypts a library's SSH private key ("" when none is
// set).
func (v *Vault) LibrarySSHKey(l *store.Library) (secret.Value, error) {
	if l.SSHKey == "" {
		return secret.Value{}, nil
	}
	b, err := v.key.Open(l.SSHKey, librarySSHKeyAD(l))
	if err != nil {
		return secret.Value{}, fmt.Errorf("the SSH key of library %q does not open: %w", l.Name, err)
	}
	return secret.NewValue(string(b)), nil
}

// SealLibraryToken encrypts a library's repository token for
// store.Library.Token, bound to l's ID and repository URL (set them
// first); "" stays "".
func (v *Vault) SealLibraryToken(l *store.Library, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	if l.ID == "" {
		return "", errors.New("token of a library without ID")
	}
	return v.key.Seal([]byte(token), libraryTokenAD(l))
}

// LibraryToken decrypts a library's repository token ("" when none is set).
func (v *Vault) LibraryToken(l *store.Library) (secret.Value, error) {
	if l.Token == "" {
		return secret.Value{}, nil
	}
	b, err := v.key.Open(l.Token, libraryTokenAD(l))
	if err != nil {
		return secret.Value{}, fmt.Errorf("the token of library %q does not open: %w", l.Name, err)
	}
	return secret.NewValue(string(b)), nil
}

// rotateLibraries re-seals every library's token and SSH key.
func rotateLibraries(tx *store.Tx, reseal func(ct, ad string) (string, error)) error {
	ls, err := tx.ListLibraries()
	if err != nil {
		return err
	}
	for _, l := range ls {
		if l.Token == "" && l.SSHKey == "" {
			continue
		}
		if l.Token != "" {
			if l.Token, err = reseal(l.Token, libraryTokenAD(l)); err != nil {
				return fmt.Errorf("token of library %q: %w", l.Name, err)
			}
		}
		if l.SSHKey != "" {
			if l.SSHKey, err = reseal(l.SSHKey, librarySSHKeyAD(l)); err != nil {
				return fmt.Errorf("SSH key of library %q: %w", l.Name, err)
			}
		}
		if err := tx.UpdateLibrary(l); err != nil {
			return err
		}
	}
	return nil
}

// sealedLibraries counts the libraries' sealed tokens and SSH keys.
func sealedLibraries(tx *store.Tx) (int, error) {
	ls, err := tx.ListLibraries()
	if err != nil {
		return 0, err
	}
	k := 0
	for _, l := range ls {
		if l.Token != "" {
			k++
		}
		if l.SSHKey != "" {
			k++
		}
	}
	return k, nil
}
