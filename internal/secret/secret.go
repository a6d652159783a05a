// Package secret holds what Baton knows about secret values without any
// I/O beyond key files: a Value type that never prints itself, and the
// encryption of values at rest (AES-256-GCM under a 32-byte key, a random
// nonce per value, associated data that binds each ciphertext to where it
// belongs, and the key's ID in every ciphertext so that a value sealed
// under another key is detected, never misread).
package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is what a Value prints instead of itself.
const Redacted = "[REDACTED]"

// Value is a secret value. It prints as [REDACTED] through String, every
// fmt verb (%v %s %q %#v %x...), slog and JSON, so that a value logged or
// serialised by mistake does not leak; only Reveal returns the value.
// The zero Value is the empty value.
type Value struct {
	v string
}

// NewValue wraps a plaintext value.
func NewValue(s string) Value { return Value{v: s} }

// Reveal returns the plaintext. Call it only where the value is used (to
// seal it, or to hand it to the job that needs it).
func (v Value) Reveal() string { return v.v }

// Len is the length of the value in bytes.
func (v Value) Len() int { return len(v.v) }

// IsZero reports whether the value is empty.
func (v Value) IsZero() bool { return v.v == "" }

// String returns [REDACTED].
func (v Value) String() string { return Redacted }

// GoString returns [REDACTED].
func (v Value) GoString() string { return Redacted }

// Format prints [REDACTED] for every verb, quoted for %q.
func (v Value) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", Redacted)
		return
	}
	f.Write([]byte(Redacted))
}

// LogValue makes slog print [REDACTED].
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON encodes the string "[REDACTED]".
func (v Value) MarshalJSON() ([]byte, error) { return json.Marshal(Redacted) }

// MarshalText returns [REDACTED] (encoders that prefer text, such as
// slog's text handler for map keys or encoding/xml, also get nothing).
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// UnmarshalJSON reads a JSON string into the value, so that request
// bodies can carry values in.
func (v *Value) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a secret value must be a JSON string")
	}
	v.v = s
	return nil
}

var (
	_ fmt.Stringer     = Value{}
	_ fmt.GoStringer   = Value{}
	_ fmt.Formatter    = Value{}
	_ slog.LogValuer   = Value{}
	_ json.Marshaler   = Value{}
	_ json.Unmarshaler = (*Value)(nil)
)
