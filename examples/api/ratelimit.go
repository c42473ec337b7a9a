package main

import (
	"context"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gohttpauth/httpauth"
)

// Limits of the routes that send account e-mail (/register,
// /password-reset and the resend route): each address gets at most
// mailsPerAddress e-mails of each kind (confirmation, password reset), and
// each client (an IPv4 address, an IPv6 /64) at most mailRequestsPerClient
// requests to these routes, per mailLimitWindow. With -redis
// the counts are shared by every instance; without, each counts its own.
const (
	mailsPerAddress       = 3
	mailRequestsPerClient = 20
	mailLimitWindow       = time.Hour
)

// The limiter keys: a prefix, the e-mail's kind and the canonical address
// (as the store keeps the login); or a prefix and the client's address.
const (
	mailAddressKeyPrefix = "mail:"
	mailClientKeyPrefix  = "mail-client:"
)

// mailLimits are the two limiters of the e-mail routes.
type mailLimits struct {
	address httpauth.Limiter // mailsPerAddress per mailLimitWindow
	client  httpauth.Limiter // mailRequestsPerClient per mailLimitWindow
}

func memoryMailLimits() mailLimits {
	return mailLimits{
		address: httpauth.NewMemoryLimiter(mailsPerAddress, mailLimitWindow),
		client:  httpauth.NewMemoryLimiter(mailRequestsPerClient, mailLimitWindow),
	}
}

// canonicalAddress is the form the stores keep a login in, lower-cased
// with Go's Unicode rules (sqlstore.NormalizeLogin), so that every
// spelling the lookup matches counts against one address.
func canonicalAddress(login string) string { return strings.ToLower(login) }

// allowClient counts one request of r's client and answers a 429 with
// Retry-After (or a 500 if the limiter fails) when it is over its budget;
// it reports whether the request may go on.
func (a *accounts) allowClient(w http.ResponseWriter, r *http.Request) bool {
	ok, retry, err := a.limits.client.Reserve(r.Context(), mailClientKeyPrefix+clientAddr(r))
	switch {
	case err != nil:
		a.internal(w, r, "mail rate limit", err)
		return false
	case !ok:
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "rate_limited", "Too many requests; try again later")
		return false
	}
	return true
}

// allowMail counts one e-mail of kind to the stored login and reports
// whether it may be sent. Past the limit nothing is sent, silently for the client,
// who was answered already; the log line names no address.
func (a *accounts) allowMail(ctx context.Context, kind, login string) bool {
	ok, _, err := a.limits.address.Reserve(ctx, mailAddressKeyPrefix+kind+":"+canonicalAddress(login))
	switch {
	case err != nil:
		a.logger.LogAttrs(ctx, slog.LevelError, "account e-mail: rate limit", slog.Any("error", err))
		return false
	case !ok:
		a.logger.LogAttrs(ctx, slog.LevelInfo, "account e-mail not sent: the address's limit is reached")
		return false
	}
	return true
}

// clientAddr is the client a per-client limit counts: RemoteAddr's host,
// IPv4 per address and IPv6 per /64 (one host usually holds a whole /64),
// as the authenticator's own throttle counts clients. The example trusts
// no proxy, so X-Forwarded-For is ignored.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return addr.String()
	}
	return p.String()
}
