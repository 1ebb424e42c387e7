package seal_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/seal"
)

func box(t *testing.T, k []byte) *seal.Box {
	t.Helper()
	b, err := seal.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpens(t *testing.T) {
	key := bytes.Repeat([]byte{7}, seal.KeySize)
	b := box(t, key)
	plain := []byte(`[{"match":"*.example.com","fields":{"password":"hunter2"}}]`)
	s1, s2 := b.Seal(plain, "task_1"), b.Seal(plain, "task_1")
	if bytes.Contains(s1, []byte("hunter2")) {
		t.Fatal("the sealed form contains the plaintext")
	}
	if bytes.Equal(s1, s2) {
		t.Fatal("two seals of the same secrets are identical: the nonce is not random")
	}
	got, err := b.Open(s1, "task_1")
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Another task, another key, an altered or cut ciphertext: no.
	other := box(t, bytes.Repeat([]byte{8}, seal.KeySize))
	altered := bytes.Clone(s1)
	altered[len(altered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"other task": func() ([]byte, error) { return b.Open(s1, "task_2") },
		"other key":  func() ([]byte, error) { return other.Open(s1, "task_1") },
		"altered":    func() ([]byte, error) { return b.Open(altered, "task_1") },
		"cut":        func() ([]byte, error) { return b.Open(s1[:10], "task_1") },
		"empty":      func() ([]byte, error) { return b.Open(nil, "task_1") },
	} {
		if _, err := open(); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", name, err)
		}
	}
	if _, err := seal.New(key[:16]); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}

func TestParseKey(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, s := range []string{
		hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key),
		" " + base64.StdEncoding.EncodeToString(key) + "\n",
	} {
		got, err := seal.ParseKey(s)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	const bad = "not-a-key-but-a-password"
	for _, s := range []string{"", bad, base64.StdEncoding.EncodeToString(key[:16]), strings.Repeat("zz", 32)} {
		_, err := seal.ParseKey(s)
		if err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		} else if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("the error quotes the key: %v", err)
		}
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.key")
	k1, err := seal.KeyFile(path)
	if err != nil || len(k1) != seal.KeySize {
		t.Fatalf("KeyFile = %x, %v", k1, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	k2, err := seal.KeyFile(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("the key changed on the second read: %x, %v", k2, err)
	}
	os.WriteFile(path, []byte("garbage\n"), 0o600)
	if _, err := seal.KeyFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("a broken key file: %v, want an error naming the file", err)
	}
}
