package secret_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/secret"
)

func TestValueNeverPrintsItself(t *testing.T) {
	const plain = "hunter2-very-secret"
	v := secret.NewValue(plain)
	type wrapper struct {
		Name  string
		Value secret.Value
		Ptr   *secret.Value
	}
	w := wrapper{Name: "aws", Value: v, Ptr: &v}
	for _, tc := range []struct {
		name string
		got  func() string
	}{
		{"String", v.String},
		{"%v", func() string { return fmt.Sprintf("%v", v) }},
		{"%s", func() string { return fmt.Sprintf("%s", v) }},
		{"%q", func() string { return fmt.Sprintf("%q", v) }},
		{"%#v", func() string { return fmt.Sprintf("%#v", v) }},
		{"%x", func() string { return fmt.Sprintf("%x", v) }},
		{"%+v struct", func() string { return fmt.Sprintf("%+v", w) }},
		{"%#v struct", func() string { return fmt.Sprintf("%#v", w) }},
		{"%v pointer", func() string { return fmt.Sprintf("%v", &v) }},
		{"Println", func() string { return fmt.Sprintln(v, w) }},
		{"JSON", func() string { b, _ := json.Marshal(w); return string(b) }},
		{"slog text", func() string {
			var b bytes.Buffer
			slog.New(slog.NewTextHandler(&b, nil)).Info("x", "v", v, "w", w)
			return b.String()
		}},
		{"slog JSON", func() string {
			var b bytes.Buffer
			slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "v", v, "m", map[string]secret.Value{"k": v})
			return b.String()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.got()
			if strings.Contains(got, plain) || !strings.Contains(got, secret.Redacted) {
				t.Errorf("got %q, want [REDACTED] and no value", got)
			}
		})
	}
	if got := fmt.Sprintf("%q", v); got != `"[REDACTED]"` {
		t.Errorf("%%q = %s", got)
	}
	if v.Reveal() != plain || v.Len() != len(plain) {
		t.Errorf("Reveal = %q", v.Reveal())
	}
	var in struct{ V secret.Value }
	if err := json.Unmarshal([]byte(`{"V":"from-json"}`), &in); err != nil || in.V.Reveal() != "from-json" {
		t.Errorf("UnmarshalJSON = %q, %v", in.V.Reveal(), err)
	}
	if err := json.Unmarshal([]byte(`{"V":42}`), &in); err == nil {
		t.Errorf("UnmarshalJSON of a number: no error")
	}
}

func TestSealOpen(t *testing.T) {
	k, enc, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := secret.GenerateKey()
	ad := secret.AD("secret-id", "aws", "env", "AWS_KEY")
	c1, err := k.Seal([]byte("value"), ad)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := k.Seal([]byte("value"), ad)
	if c1 == c2 {
		t.Errorf("two seals of one value are equal: the nonce is not random")
	}
	if strings.Contains(c1, "value") {
		t.Errorf("ciphertext %q shows the value", c1)
	}
	if id, err := secret.KeyIDOf(c1); err != nil || id != k.ID() {
		t.Errorf("KeyIDOf = %q, %v; want %q", id, err, k.ID())
	}
	if got, err := k.Open(c1, ad); err != nil || string(got) != "value" {
		t.Errorf("Open = %q, %v", got, err)
	}
	// The same key parsed again opens it.
	k2, err := secret.ParseKey(" " + enc + "\n")
	if err != nil || k2.ID() != k.ID() {
		t.Fatalf("ParseKey: %v", err)
	}
	if _, err := k2.Open(c1, ad); err != nil {
		t.Errorf("Open with the parsed key: %v", err)
	}
	for _, tc := range []struct {
		name string
		key  *secret.Key
		ct   string
		ad   string
		want error
	}{
		{"other variable", k, c1, secret.AD("secret-id", "aws", "env", "OTHER"), secret.ErrCorrupt},
		{"other secret", k, c1, secret.AD("other-id", "aws", "env", "AWS_KEY"), secret.ErrCorrupt},
		{"ambiguous parts", k, c1, secret.AD("secret-idaws", "", "env", "AWS_KEY"), secret.ErrCorrupt},
		{"other key", other, c1, ad, secret.ErrWrongKey},
		{"tampered", k, c1[:len(c1)-2] + "AA", ad, secret.ErrCorrupt},
		{"garbage", k, "plaintext", ad, secret.ErrCorrupt},
		{"truncated", k, c1[:25], ad, secret.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.key.Open(tc.ct, tc.ad); !errors.Is(err, tc.want) {
				t.Errorf("Open = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseKeyErrors(t *testing.T) {
	for _, s := range []string{"", "not base64!", "c2hvcnQ=" /* "short" */} {
		if _, err := secret.ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q): no error", s)
		}
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret.key")
	k, enc, _ := secret.GenerateKey()
	if err := secret.WriteKeyFile(p, enc); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	got, err := secret.ReadKeyFile(p)
	if err != nil || got.ID() != k.ID() {
		t.Errorf("ReadKeyFile = %v, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want only the key", len(entries))
	}
}
