package httpauth

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientKeyInvalidChain is the client key of every request whose
// X-Forwarded-For, read from a trusted proxy, has a hop that does not
// parse. Such chains share one budget of their own: falling back to the
// proxy's address would put every client behind it in one bucket.
const clientKeyInvalidChain = "invalid-forwarded-chain"

// clientIP returns the key a per-client limit counts against: the client's
// address, IPv4 per address and IPv6 per /64 (one host usually holds a
// whole /64). The client is r.RemoteAddr's host, unless it is a
// trusted proxy, in which case it is the rightmost X-Forwarded-For entry
// that is not itself a trusted proxy.
func (a *Authenticator[U]) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host // not an IP (a unix socket, a test): as given
	}
	addr = addr.Unmap()
	if len(a.cfg.Throttle.TrustedProxies) == 0 || !a.isTrusted(addr) {
		return clientKey(addr)
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" && len(hops) == 1 {
			break // no X-Forwarded-For: the proxy itself is the client
		}
		hop, err := netip.ParseAddr(h)
		if err != nil || hop.Zone() != "" {
			return clientKeyInvalidChain
		}
		hop = hop.Unmap()
		if !a.isTrusted(hop) {
			return clientKey(hop)
		}
	}
	return clientKey(addr)
}

// clientKey is addr for IPv4 and addr's /64 for IPv6.
func clientKey(addr netip.Addr) string {
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return addr.String()
	}
	return p.String()
}

func (a *Authenticator[U]) isTrusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range a.cfg.Throttle.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
