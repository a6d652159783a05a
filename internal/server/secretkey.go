package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

// The key files under the data directory.
const (
	// SecretKeyFile holds the key secrets are encrypted with (base64 of
	// 32 bytes, mode 0600), unless Config.SecretKey gives it.
	SecretKeyFile = "secret.key"
	// pendingKeyFile holds the new key during a rotation, until the
	// database has committed to it.
	pendingKeyFile = "secret.key.new"
)

// openVault loads the secret key (Config.SecretKey, else the data
// directory's key file, created on first start) and opens the vault, which
// checks it is the key the database's secrets are sealed with. A rotation
// interrupted after the database committed to the new key is completed
// here: the pending key file replaces the old one.
func openVault(ctx context.Context, cfg Config, db *store.DB) (*vault.Vault, error) {
	if cfg.SecretKey != "" {
		key, err := secret.ParseKey(cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("BATON_SECRET_KEY: %w", err)
		}
		return vault.New(ctx, vault.Config{Store: db, Key: key})
	}
	path := filepath.Join(cfg.DataDir, SecretKeyFile)
	key, err := secret.ReadKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var enc string
		if key, enc, err = secret.GenerateKey(); err != nil {
			return nil, err
		}
		if err := secret.WriteKeyFile(path, enc); err != nil {
			return nil, err
		}
		cfg.Logger.Info("created the secret key", "path", path, "key_id", key.ID())
	} else if err != nil {
		return nil, err
	}
	v, err := vault.New(ctx, vault.Config{Store: db, Key: key})
	if err == nil {
		return v, nil
	}
	pending := filepath.Join(cfg.DataDir, pendingKeyFile)
	next, perr := secret.ReadKeyFile(pending)
	if perr != nil {
		return nil, err
	}
	v, nerr := vault.New(ctx, vault.Config{Store: db, Key: next})
	if nerr != nil {
		return nil, err
	}
	if err := os.Rename(pending, path); err != nil {
		return nil, fmt.Errorf("finish the interrupted key rotation: %w", err)
	}
	cfg.Logger.Warn("finished an interrupted secret key rotation", "path", path, "key_id", next.ID())
	return v, nil
}

// RotateConfig says where the secrets and keys of a rotation are.
type RotateConfig struct {
	// DataDir is the server's data directory (its secret.key).
	DataDir string
	// DB is the database; default SQLite under DataDir.
	DB string
	// OldKey is the current key (base64) when it is not in DataDir's key
	// file (BATON_SECRET_KEY).
	OldKey string
	// NewKey is the new key (base64); empty generates one. Required when
	// OldKey is set, since there is no key file to write it to.
	NewKey string
}

// RotateResult reports a rotation.
type RotateResult struct {
	Secrets  int
	OldKeyID string
	NewKeyID string
	// KeyFile is where the new key was written; "" when the key is given
	// by BATON_SECRET_KEY, which must now be changed.
	KeyFile string
}

// RotateSecretKey re-encrypts every secret under a new key in one database
// transaction. With a key file, the new key is first written beside it as
// secret.key.new, then the database commits, then the file replaces the
// old one; a crash in between is completed by the next start (see
// openVault). Stop every server first.
func RotateSecretKey(ctx context.Context, rc RotateConfig) (*RotateResult, error) {
	if rc.DataDir == "" {
		return nil, errors.New("rotate the secret key: a data directory is required")
	}
	if rc.DB == "" {
		rc.DB = "sqlite:" + filepath.Join(rc.DataDir, "baton.db")
	}
	path := filepath.Join(rc.DataDir, SecretKeyFile)
	var old *secret.Key
	var err error
	if rc.OldKey != "" {
		if rc.NewKey == "" {
			return nil, errors.New("rotate the secret key: BATON_SECRET_KEY is set, so give the new key with --new-key FILE (and set BATON_SECRET_KEY to it afterwards)")
		}
		old, err = secret.ParseKey(rc.OldKey)
	} else {
		old, err = secret.ReadKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("rotate the secret key: current key: %w", err)
	}
	var next *secret.Key
	enc := rc.NewKey
	if enc == "" {
		next, enc, err = secret.GenerateKey()
	} else {
		next, err = secret.ParseKey(enc)
	}
	if err != nil {
		return nil, fmt.Errorf("rotate the secret key: new key: %w", err)
	}
	db, err := store.Open(ctx, rc.DB)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	res := &RotateResult{OldKeyID: old.ID(), NewKeyID: next.ID()}
	pending := filepath.Join(rc.DataDir, pendingKeyFile)
	if rc.OldKey == "" {
		if err := secret.WriteKeyFile(pending, enc); err != nil {
			return nil, err
		}
	}
	if res.Secrets, err = vault.Rotate(ctx, db, old, next); err != nil {
		os.Remove(pending)
		return nil, err
	}
	if rc.OldKey == "" {
		if err := os.Rename(pending, path); err != nil {
			return nil, fmt.Errorf("rotate the secret key: the database now uses key %s, in %s: move it to %s: %w", next.ID(), pending, path, err)
		}
		res.KeyFile = path
	}
	return res, nil
}
