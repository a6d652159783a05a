package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// ciphertextPrefix starts every ciphertext this package writes; the format
// is "bs1.<key id>.<base64url(nonce || sealed)>".
const ciphertextPrefix = "bs1."

// Errors callers branch on.
var (
	// ErrWrongKey is returned by Open for a ciphertext sealed under
	// another key (its key ID is not this key's).
	ErrWrongKey = errors.New("sealed under another key")
	// ErrCorrupt is returned by Open for a ciphertext that is malformed,
	// was altered, or belongs elsewhere (its associated data differs).
	ErrCorrupt = errors.New("ciphertext is corrupt or belongs to another value")
)

// Key is an AES-256-GCM key. Its ID, derived from the key, is written in
// every ciphertext; it says which key sealed a value without revealing
// anything about the key.
type Key struct {
	id   string
	aead cipher.AEAD
}

// NewKey returns a Key from 32 raw bytes.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("secret key: want %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	sum := sha256.Sum256(append([]byte("baton secret key id\x00"), raw...))
	return &Key{id: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// GenerateKey returns a new random key and its encoded form (base64, as
// key files and BATON_SECRET_KEY hold it).
func GenerateKey() (*Key, string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", fmt.Errorf("generate secret key: %w", err)
	}
	k, err := NewKey(raw)
	if err != nil {
		return nil, "", err
	}
	return k, base64.StdEncoding.EncodeToString(raw), nil
}

// ParseKey decodes a key written as base64 of 32 bytes (standard or URL
// alphabet, padded or not; surrounding space is ignored).
func ParseKey(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			if len(raw) != KeySize {
				return nil, fmt.Errorf("secret key: want base64 of %d bytes, got %d bytes", KeySize, len(raw))
			}
			return NewKey(raw)
		}
	}
	return nil, errors.New("secret key: not base64 (want base64 of 32 random bytes, e.g. from 'openssl rand -base64 32')")
}

// ReadKeyFile reads a key file written by WriteKeyFile (or by hand: base64
// of 32 bytes).
func ReadKeyFile(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// WriteKeyFile writes an encoded key to path with mode 0600, atomically
// (a temporary file renamed into place, synced before and after), so that
// a crash leaves either the old file or the new one.
func WriteKeyFile(path, encoded string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".secret-key-*")
	if err != nil {
		return fmt.Errorf("write secret key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write secret key: %w", err)
	}
	if _, err := f.WriteString(encoded + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write secret key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write secret key: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// ID identifies the key (16 hex digits); it is safe to show and store.
func (k *Key) ID() string { return k.id }

// Seal encrypts plaintext with a random nonce. The associated data ad is
// authenticated, not stored: Open must be given the same ad, so a
// ciphertext copied to another place (another secret, another variable)
// does not open there.
func (k *Key) Seal(plaintext []byte, ad string) (string, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	sealed := k.aead.Seal(nonce, nonce, plaintext, k.ad(ad))
	return ciphertextPrefix + k.id + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open decrypts a ciphertext made by Seal with the same ad. It returns
// ErrWrongKey for a ciphertext of another key and ErrCorrupt for one that
// does not authenticate.
func (k *Key) Open(ciphertext, ad string) ([]byte, error) {
	id, err := KeyIDOf(ciphertext)
	if err != nil {
		return nil, err
	}
	if id != k.id {
		return nil, fmt.Errorf("open: key %s: %w (this key is %s)", id, ErrWrongKey, k.id)
	}
	sealed, err := base64.RawURLEncoding.DecodeString(ciphertext[len(ciphertextPrefix)+len(id)+1:])
	if err != nil || len(sealed) < k.aead.NonceSize()+k.aead.Overhead() {
		return nil, fmt.Errorf("open: %w", ErrCorrupt)
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], k.ad(ad))
	if err != nil {
		return nil, fmt.Errorf("open: %w", ErrCorrupt)
	}
	return plain, nil
}

// ad prefixes the caller's associated data with the format and key ID.
func (k *Key) ad(ad string) []byte {
	var b bytes.Buffer
	b.WriteString(ciphertextPrefix)
	b.WriteString(k.id)
	b.WriteByte(0)
	b.WriteString(ad)
	return b.Bytes()
}

// KeyIDOf returns the ID of the key that sealed a ciphertext.
func KeyIDOf(ciphertext string) (string, error) {
	rest, ok := strings.CutPrefix(ciphertext, ciphertextPrefix)
	if !ok {
		return "", fmt.Errorf("open: %w (unknown format)", ErrCorrupt)
	}
	id, _, ok := strings.Cut(rest, ".")
	if !ok || len(id) != 16 {
		return "", fmt.Errorf("open: %w (no key id)", ErrCorrupt)
	}
	return id, nil
}

// AD builds associated data from parts, unambiguously (each part is
// length-prefixed), for Seal and Open.
func AD(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "%d:%s;", len(p), p)
	}
	return b.String()
}
