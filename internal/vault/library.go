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

// rotateLibraries re-seals every library's token.
func rotateLibraries(tx *store.Tx, reseal func(ct, ad string) (string, error)) error {
	ls, err := tx.ListLibraries()
	if err != nil {
		return err
	}
	for _, l := range ls {
		if l.Token == "" {
			continue
		}
		if l.Token, err = reseal(l.Token, libraryTokenAD(l)); err != nil {
			return fmt.Errorf("token of library %q: %w", l.Name, err)
		}
		if err := tx.UpdateLibrary(l); err != nil {
			return err
		}
	}
	return nil
}

// sealedLibraries counts the libraries with a sealed token.
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
	}
	return k, nil
}
