package auth

import (
	"net/netip"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{in: "10.1.2.3/8, 192.0.2.1 2001:db8::/32", want: []string{"10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32"}},
		{in: "::ffff:192.0.2.1", want: []string{"192.0.2.1/32"}},
		{in: "10.0.0.0/8,not-a-cidr", wantErr: true},
		{in: "10.0.0.0/33", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseTrustedProxies(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseTrustedProxies(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParseTrustedProxies(%q) = %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i].String() != tt.want[i] {
				t.Errorf("ParseTrustedProxies(%q)[%d] = %v, want %v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxies: the peer", "198.51.100.1:1234", []string{"203.0.113.1"}, nil, "198.51.100.1"},
		{"untrusted peer: header ignored", "198.51.100.1:1234", []string{"203.0.113.1"}, trusted, "198.51.100.1"},
		{"trusted peer: the header's client", "10.0.0.1:1234", []string{"203.0.113.1"}, trusted, "203.0.113.1"},
		{"trusted hops skipped right to left", "10.0.0.1:1234", []string{"6.6.6.6, 203.0.113.1, 10.0.0.9"}, trusted, "203.0.113.1"},
		{"several header lines read as one list", "10.0.0.1:1234", []string{"6.6.6.6, 203.0.113.1", "10.0.0.9"}, trusted, "203.0.113.1"},
		{"all hops trusted: the leftmost", "10.0.0.1:1234", []string{"10.0.0.7, 10.0.0.8"}, trusted, "10.0.0.7"},
		{"garbage: the last trusted hop", "10.0.0.1:1234", []string{"203.0.113.1, bogus"}, trusted, "10.0.0.1"},
		{"IPv6 peer and client", "[2001:db8:ffff::1]:443", []string{"2001:db8:1::5"}, trusted, "2001:db8:1::5"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.1]:443", []string{"203.0.113.1"}, trusted, "203.0.113.1"},
		{"zone dropped", "[fe80::1%eth0]:443", nil, nil, "fe80::1"},
		{"no port", "198.51.100.1", nil, nil, "198.51.100.1"},
		{"unparseable peer kept as is", "pipe", []string{"203.0.113.1"}, trusted, "pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clientIP(tt.remote, tt.xff, tt.trusted); got != tt.want {
				t.Errorf("clientIP(%q, %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

func TestTrustedPeer(t *testing.T) {
	trusted, _ := ParseTrustedProxies("10.0.0.0/8, 2001:db8::1")
	tests := []struct {
		remote  string
		trusted []netip.Prefix
		want    bool
	}{
		{"10.1.2.3:443", trusted, true},
		{"[::ffff:10.1.2.3]:443", trusted, true},
		{"[2001:db8::1]:443", trusted, true},
		{"[fe80::1%eth0]:443", trusted, false},
		{"192.0.2.1:443", trusted, false},
		{"10.1.2.3:443", nil, false},
		{"garbage", trusted, false},
		{"10.1.2.3", trusted, true},
	}
	for _, tt := range tests {
		if got := TrustedPeer(tt.remote, tt.trusted); got != tt.want {
			t.Errorf("TrustedPeer(%q) = %v, want %v", tt.remote, got, tt.want)
		}
	}
}
