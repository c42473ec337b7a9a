package bench

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkFloor measures what any signed-token middleware must pay on
// top of the bare handler with net/http: a request copy to carry the
// user in its context (r.WithContext), and one HMAC-SHA256 over the
// token. It checks nothing else (no expiry, no store, no revocation), so
// it is a lower bound to read BenchmarkToken against, not a peer.
func BenchmarkFloor(b *testing.B) {
	for _, c := range floorCases(b) {
		b.Run(c.name, func(b *testing.B) { runSerial(b, c) })
	}
}

type floorKey struct{}

// floorMiddleware puts the user in the context, after checking the
// token's HMAC-SHA256 when mac is not nil. Its scratch space is shared:
// serial benchmarks only.
func floorMiddleware(next http.Handler, mac hash.Hash) http.Handler {
	var scratch struct {
		buf       [256]byte
		want, got [sha256.Size]byte
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mac != nil {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			i := strings.LastIndexByte(tok, '.')
			if !ok || i < 0 || len(tok) > len(scratch.buf) {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			b := scratch.buf[:copy(scratch.buf[:], tok)]
			if n, err := base64.RawURLEncoding.Decode(scratch.want[:], b[i+1:]); err != nil || n != sha256.Size {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			mac.Reset()
			mac.Write(b[:i])
			if !hmac.Equal(mac.Sum(scratch.got[:0]), scratch.want[:]) {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), floorKey{}, benchUserID)))
	})
}

// floorUser answers with the user floorMiddleware put in the context.
var floorUser http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	id, ok := r.Context().Value(floorKey{}).(string)
	answer(w, id, ok)
})

// withContextCase is the bare handler behind a middleware that only puts
// the user in the context: no check at all (safe to share between
// goroutines, since it has no MAC).
func withContextCase() benchCase {
	return benchCase{name: "withcontext", handler: floorMiddleware(floorUser, nil)}
}

func floorCases(tb testing.TB) []benchCase {
	tb.Helper()
	user := floorUser
	// A token shaped like httpauth's: kid "." payload "." base64url(MAC).
	const signed = "k1.AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAHUx"
	mac := hmac.New(sha256.New, benchSecret)
	mac.Write([]byte(signed))
	tok := signed + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	return []benchCase{
		{name: "bare", handler: bareHandler},
		withContextCase(),
		{name: "withcontext+hmac", handler: floorMiddleware(user, mac), authz: "Bearer " + tok, bad: map[string]string{
			"forged": "Bearer " + tamper(tok),
		}},
	}
}
