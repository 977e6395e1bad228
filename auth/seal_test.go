package auth

import (
	"bytes"
	"testing"
)

func TestSealer(t *testing.T) {
	s, err := newSealer([]byte("a secret of some length 0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("refresh-token-plain-value")
	sealed := s.seal(plain, []byte("row-1"))
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed value contains the plain text")
	}
	if bytes.Equal(sealed, s.seal(plain, []byte("row-1"))) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	got, err := s.open(sealed, []byte("row-1"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open() = %q, %v; want the plain text", got, err)
	}
	other, _ := newSealer([]byte("another secret of some length 0123"))
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"another row":    func() ([]byte, error) { return s.open(sealed, []byte("row-2")) },
		"another secret": func() ([]byte, error) { return other.open(sealed, []byte("row-1")) },
		"tampered":       func() ([]byte, error) { return s.open(tampered, []byte("row-1")) },
		"truncated":      func() ([]byte, error) { return s.open(sealed[:10], []byte("row-1")) },
	} {
		if _, err := open(); err == nil {
			t.Errorf("open(%s) error = nil, want an error", name)
		}
	}
	if _, err := newSealer(nil); err == nil {
		t.Error("newSealer(nil) error = nil, want an error")
	}
}
