// Package seal encrypts task secrets while they wait in the store: AES-256
// in GCM mode (Go's crypto/cipher), each ciphertext bound to the task it
// belongs to, so that a ciphertext copied onto another task does not open.
// A store holding sealed secrets and no key reveals nothing of them; every
// node that runs tasks needs the same key (--secrets-key).
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// KeySize is the length of a key: 32 bytes, for AES-256.
const KeySize = 32

// ErrOpen is returned when a ciphertext does not open with this key (sealed
// with another key, or for another task, or altered).
var ErrOpen = errors.New("seal: the secrets do not open with this node's key (is --secrets-key the same on every node?)")

// Box seals and opens with one key.
type Box struct{ aead cipher.AEAD }

// New makes a Box from a KeySize-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: the key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Box{aead: aead}, nil
}

// NewRandom makes a Box with a fresh random key: what it seals only this
// Box opens.
func NewRandom() *Box {
	b, _ := New(randomKey()) // a KeySize key: cannot fail
	return b
}

func randomKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k) // crypto/rand.Read never fails (Go 1.24+)
	return k
}

// Seal encrypts plain for the owner named by context (a task id): a random
// nonce followed by the ciphertext.
func (b *Box) Seal(plain []byte, context string) []byte {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	return b.aead.Seal(nonce, nonce, plain, []byte(context))
}

// Open decrypts what Seal made for the same context, or returns ErrOpen.
func (b *Box) Open(sealed []byte, context string) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n+b.aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// ParseKey reads a key written as 64 hex digits or as base64 (standard or
// URL alphabet, padded or not) of 32 bytes. The error never quotes s.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("seal: a key is %d random bytes written as 64 hex digits or as base64 (e.g. `openssl rand -base64 32`)", KeySize)
}

// KeyFile reads the key kept in path, creating it (mode 0600, random) if
// there is none: the embedded store's way to keep secrets sealed across
// restarts without configuration.
func KeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k := randomKey()
		enc := []byte(base64.StdEncoding.EncodeToString(k) + "\n")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return KeyFile(path) // another process made it first
		}
		if err != nil {
			return nil, fmt.Errorf("seal: creating the key file: %w", err)
		}
		if _, err := f.Write(enc); err != nil {
			f.Close()
			return nil, fmt.Errorf("seal: writing the key file: %w", err)
		}
		if err := errors.Join(f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("seal: writing the key file: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("seal: reading the key file: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
