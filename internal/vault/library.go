package vault

import (
	"fmt"

	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
)

// A library's credentials (its repository token, its SSH private key)
// are sealed bound to the library's ID and repository URL, each under its
// own label: copied to another library, or opened after the URL changed,
// one does not open, so it only ever goes to the repository it was given
// for.
type libraryCredential struct{ label, what string }

var (
	libraryToken  = libraryCredential{"baton library token", "token"}
	librarySSHKey = libraryCredential{"baton library ssh key", "SSH key"}
)

func (c libraryCredential) ad(l *store.Library) string {
	return secret.AD(c.label, l.ID, l.RepoURL)
}

// seal encrypts value for l (whose ID and URL are set); "" stays "".
func (c libraryCredential) seal(v *Vault, l *store.Library, value string) (string, error) {
	if value == "" {
		return "", nil
	}
	if l.ID == "" {
		return "", fmt.Errorf("%s of a library without ID", c.what)
	}
	return v.key.Seal([]byte(value), c.ad(l))
}

// open decrypts sealed, l's credential ("" when none is set).
func (c libraryCredential) open(v *Vault, l *store.Library, sealed string) (secret.Value, error) {
	if sealed == "" {
		return secret.Value{}, nil
	}
	b, err := v.key.Open(sealed, c.ad(l))
	if err != nil {
		return secret.Value{}, fmt.Errorf("the %s of library %q does not open: %w", c.what, l.Name, err)
	}
	return secret.NewValue(string(b)), nil
}

// SealLibrarySSHKey encrypts a library's SSH private key for
// store.Library.SSHKey, bound to l's ID and repository URL (set them
// first); "" stays "".
func (v *Vault) SealLibrarySSHKey(l *store.Library, key string) (string, error) {
	return librarySSHKey.seal(v, l, key)
}

// LibrarySSHKey decrypts a library's SSH private key ("" when none is
// set).
func (v *Vault) LibrarySSHKey(l *store.Library) (secret.Value, error) {
	return librarySSHKey.open(v, l, l.SSHKey)
}

// SealLibraryToken encrypts a library's repository token for
// store.Library.Token, bound to l's ID and repository URL (set them
// first); "" stays "".
func (v *Vault) SealLibraryToken(l *store.Library, token string) (string, error) {
	return libraryToken.seal(v, l, token)
}

// LibraryToken decrypts a library's repository token ("" when none is set).
func (v *Vault) LibraryToken(l *store.Library) (secret.Value, error) {
	return libraryToken.open(v, l, l.Token)
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
			if l.Token, err = reseal(l.Token, libraryToken.ad(l)); err != nil {
				return fmt.Errorf("token of library %q: %w", l.Name, err)
			}
		}
		if l.SSHKey != "" {
			if l.SSHKey, err = reseal(l.SSHKey, librarySSHKey.ad(l)); err != nil {
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
