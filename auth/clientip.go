package auth

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses a comma- or space-separated list of CIDR
// prefixes or single addresses (TRUSTED_PROXIES). An empty list trusts no
// proxy: the connection's peer is the client.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix or an IP address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// clientOf returns the client address and user agent of r.
func (s *Service) clientOf(r *http.Request) Client {
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return Client{IP: clientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.opts.TrustedProxies), UserAgent: ua}
}

// clientIP returns the address of the client behind a request from
// remoteAddr. X-Forwarded-For is honoured only when the peer is a trusted
// proxy, and then read right to left, skipping further trusted hops: the
// first untrusted address is the client (anything left of it was written by
// the client and proves nothing). A malformed entry stops the walk at the
// last trusted hop.
func clientIP(remoteAddr string, xff []string, trusted []netip.Prefix) string {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap().WithZone("")
	if !isTrusted(peer, trusted) || len(xff) == 0 {
		return peer.String()
	}
	hops := strings.Split(strings.Join(xff, ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap().WithZone("")
		if !isTrusted(client, trusted) {
			break
		}
	}
	return client.String()
}

// TrustedPeer reports whether the connection's peer, remoteAddr as
// net/http gives it, is one of the trusted proxies: the same decision that
// lets its X-Forwarded-For name the client, for the other headers a proxy
// sets (X-Request-Id).
func TrustedPeer(remoteAddr string, trusted []netip.Prefix) bool {
	if len(trusted) == 0 {
		return false
	}
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return isTrusted(peer.Unmap().WithZone(""), trusted)
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
