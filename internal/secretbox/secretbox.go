// Package secretbox encrypts secrets at rest (webhook secrets, Odoo and SMTP
// credentials, subscriber signing keys) with AES-256-GCM under the
// installation's YARDMASTER_SECRET_KEY. The ciphertext names the key id so
// the key can be rotated later without guessing.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Box seals and opens secrets with one key.
type Box struct {
	aead  cipher.AEAD
	keyID string
}

// KeyLen is the raw key length in bytes.
const KeyLen = 32

// ErrDecrypt is returned when a sealed value cannot be opened with the key.
var ErrDecrypt = errors.New("secretbox: cannot decrypt (wrong YARDMASTER_SECRET_KEY or corrupted value)")

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeyLen {
		return nil, fmt.Errorf("secretbox: key must be %d bytes, got %d", KeyLen, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	sum := sha256.Sum256(key)
	return &Box{aead: aead, keyID: base64.RawURLEncoding.EncodeToString(sum[:6])}, nil
}

// ParseKey decodes a key given as base64 (std or URL, padded or not) or hex.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeyLen {
			return b, nil
		}
	}
	if len(s) == 2*KeyLen {
		b := make([]byte, KeyLen)
		if _, err := fmt.Sscanf(s, "%x", &b); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("want %d random bytes as base64 or hex (e.g. the output of `openssl rand -base64 32`)", KeyLen)
}

// NewKey returns a fresh random key encoded as base64.
func NewKey() string {
	b := make([]byte, KeyLen)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Seal encrypts plaintext; the result is printable: "v1:<keyid>:<base64>".
// aad binds the ciphertext to its owner (e.g. "source:<id>") so a value
// cannot be copied to another row.
func (b *Box) Seal(plaintext, aad string) string {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	ct := b.aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return "v1:" + b.keyID + ":" + base64.RawStdEncoding.EncodeToString(ct)
}

// Open decrypts a value made by Seal with the same aad.
func (b *Box) Open(sealed, aad string) (string, error) {
	parts := strings.SplitN(sealed, ":", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return "", ErrDecrypt
	}
	if parts[1] != b.keyID {
		return "", fmt.Errorf("%w: sealed with key %s, current key is %s", ErrDecrypt, parts[1], b.keyID)
	}
	raw, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", ErrDecrypt
	}
	pt, err := b.aead.Open(nil, raw[:b.aead.NonceSize()], raw[b.aead.NonceSize():], []byte(aad))
	if err != nil {
		return "", ErrDecrypt
	}
	return string(pt), nil
}
