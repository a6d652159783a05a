package auth

import (
	"strings"
	"testing"
)

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "pbkdf2-sha256$600000$") {
		t.Errorf("hash = %q, want pbkdf2-sha256 with 600000 iterations", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Error("hash contains the password")
	}
	if !CheckPassword(h, "correct horse") {
		t.Error("right password refused")
	}
	for _, wrong := range []string{"", "correct hors", "Correct horse", "correct horse "} {
		if CheckPassword(h, wrong) {
			t.Errorf("wrong password %q accepted", wrong)
		}
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "x$1$a$b", "pbkdf2-sha256$zz$a$b", "pbkdf2-sha256$1$!!$b"} {
		if CheckPassword(bad, "x") {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}

func TestTokens(t *testing.T) {
	tok, hash := NewToken("bat_")
	if !strings.HasPrefix(tok, "bat_") || len(tok) < 30 {
		t.Errorf("token = %q", tok)
	}
	if HashToken(tok) != hash || strings.Contains(hash, tok) {
		t.Errorf("hash mismatch or leaks the token")
	}
	other, _ := NewToken("bat_")
	if other == tok {
		t.Error("tokens repeat")
	}
}
