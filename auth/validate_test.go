package auth

import (
	"strings"
	"testing"
)

func TestCommonPasswords(t *testing.T) {
	if n := len(commonPasswords()); n < 19000 {
		t.Fatalf("common-password list has %d entries, want the shipped ~19,700", n)
	}
	tests := []struct {
		password string
		common   bool
	}{
		{"password", true},
		{"PassWord", true},
		{"12345678", true},
		{"qwerty", true},
		{" iloveyou ", true},
		{"sunshine1", true},
		{"correct horse battery", false},
		{"u8#Kq!2vLz", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsCommonPassword(tt.password); got != tt.common {
			t.Errorf("IsCommonPassword(%q) = %v, want %v", tt.password, got, tt.common)
		}
	}
}

func TestValidateUsername(t *testing.T) {
	tests := []struct {
		username string
		ok       bool
	}{
		{"abc", true},
		{"alice.smith+test@example.com", true},
		{"under_score-dash", true},
		{"José", true},
		{"用户名", true},
		{"ab", false},
		{strings.Repeat("x", 150), true},
		{strings.Repeat("x", 151), false},
		{"has space", false},
		{"semi;colon", false},
		{"tab\there", false},
		{"emoji😀", false},
	}
	for _, tt := range tests {
		err := ValidateUsername(tt.username)
		if (err == nil) != tt.ok || (err != nil && err.Field != "username") {
			t.Errorf("ValidateUsername(%q) = %v, want ok %v", tt.username, err, tt.ok)
		}
	}
}

func TestValidateEmail(t *testing.T) {
	tests := []struct {
		email, want string
		ok          bool
	}{
		{"alice@example.com", "alice@example.com", true},
		{"  alice@example.com ", "alice@example.com", true},
		{"a.b+c@sub.example.org", "a.b+c@sub.example.org", true},
		{"alice", "", false},
		{"alice@", "", false},
		{"@example.com", "", false},
		{"Alice <alice@example.com>", "", false},
		{"alice@[192.0.2.1]", "", false},
		{"a@b@c", "", false},
		{strings.Repeat("a", 250) + "@x.io", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := ValidateEmail(tt.email)
		if (err == nil) != tt.ok || got != tt.want || (err != nil && err.Field != "email") {
			t.Errorf("ValidateEmail(%q) = %q, %v; want %q, ok %v", tt.email, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name, password, username string
		minLen                   int
		ok                       bool
	}{
		{"fine", "correct horse battery", "alice", 8, true},
		{"too short", "Xk3!mq9", "alice", 8, false},
		{"short, in characters not bytes", "ééééééé", "alice", 8, false},
		{"configured minimum", "Xk3!mq9zT2", "alice", 12, false},
		{"the username", "Alice.Wonder", "alice.wonder", 8, false},
		{"common", "baseball", "alice", 8, false},
		{"over 1024 bytes", strings.Repeat("x", 1025), "alice", 8, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.password, tt.username, tt.minLen)
			if (err == nil) != tt.ok || (err != nil && err.Field != "password") {
				t.Fatalf("ValidatePassword(%q) = %v, want ok %v", tt.password, err, tt.ok)
			}
		})
	}
}
