package httpauth

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP returns the address a per-client limit counts against:
// RemoteAddr's host, unless RemoteAddr is a trusted proxy, in which case the
// rightmost X-Forwarded-For entry that is not itself a trusted proxy.
func (a *Authenticator[U]) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(a.trusted) == 0 {
		return host
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !a.isTrusted(addr) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return host // a garbled chain is not believed past this point
		}
		hop = hop.Unmap()
		if !a.isTrusted(hop) {
			return hop.String()
		}
	}
	return host
}

func (a *Authenticator[U]) isTrusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range a.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
