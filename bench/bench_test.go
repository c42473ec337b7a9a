package bench

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// basicHashes are the stored hashes BenchmarkBasic runs against: the peers
// run against the bcrypt ones, httpauth against all three.
var basicHashes = []string{"bcrypt10", "bcrypt4", "argon2id"}

// BenchmarkToken is one token-authenticated request per iteration.
func BenchmarkToken(b *testing.B) {
	for _, c := range tokenCases(b) {
		b.Run(c.name, func(b *testing.B) { runSerial(b, c) })
	}
}

// BenchmarkTokenParallel is BenchmarkToken from GOMAXPROCS goroutines; run
// it with -cpu 1,2 to see how it scales.
func BenchmarkTokenParallel(b *testing.B) {
	for _, c := range tokenCases(b) {
		b.Run(c.name, func(b *testing.B) { runParallel(b, c) })
	}
}

// BenchmarkBasic is one login-and-password request per iteration. The
// cold cases pay one password hash each; the cached ones hit httpauth's
// verified-credential cache.
func BenchmarkBasic(b *testing.B) {
	b.Run("bare", func(b *testing.B) { runSerial(b, benchCase{name: "bare", handler: bareHandler}) })
	for _, hash := range basicHashes {
		for _, c := range basicCases(b, hash) {
			b.Run(c.name+"/"+hash, func(b *testing.B) { runSerial(b, c) })
		}
	}
}

func runSerial(b *testing.B, c benchCase) {
	r := c.request()
	serve(b, c.handler, r, http.StatusOK) // the setup works (and caches warm) before timing
	next := rotate(makeRing(c), r, 0)
	b.ReportAllocs()
	for b.Loop() {
		next()
		rec := httptest.NewRecorder()
		c.handler.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

func runParallel(b *testing.B, c benchCase) {
	serve(b, c.handler, c.request(), http.StatusOK)
	ring := makeRing(c) // made before timing
	b.ReportAllocs()
	b.ResetTimer()
	var goroutines atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		r := c.request() // one request per goroutine: nothing shared but the handler
		next := rotate(ring, r, int(goroutines.Add(1))*7919)
		for pb.Next() {
			next()
			rec := httptest.NewRecorder()
			c.handler.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				b.Errorf("status %d", rec.Code)
				return
			}
		}
	})
}

// makeRing returns c's ring, nil for a case without one.
func makeRing(c benchCase) []string {
	if c.ring == nil {
		return nil
	}
	return c.ring()
}

// rotate returns what to call before each request: with a ring, it puts
// the ring's next value, from start on, in r's Authorization header (in
// place, allocating nothing); without one, nothing.
func rotate(ring []string, r *http.Request, start int) func() {
	if ring == nil {
		return func() {}
	}
	i := start
	return func() {
		r.Header["Authorization"][0] = ring[i%len(ring)]
		i++
	}
}
