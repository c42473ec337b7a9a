package httpauth

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Verification is at explicit times (verify's now), for the clock must
	// go back, which a synctest bubble's cannot; every token is issued at t0.
	s, err := newHMACSigner(hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: "k1", Secret: testKey1}}, CacheSize: 4})
	require.NoError(t, err)
	require.NotNil(t, s.cache)
	tok, err := s.Sign(ctx, newClaims("user-1", t0, time.Hour))
	require.NoError(t, err)

	first, err := s.verify(tok, t0)
	require.NoError(t, err)
	cached := s.cache.get(tok) != nil
	require.True(t, cached, "a verified token is cached")
	second, err := s.verify(tok, t0)
	require.NoError(t, err)
	assert.Equal(t, first, second, "a hit returns the same claims")

	t.Run("a tampered token never hits", func(t *testing.T) {
		bad := tok[:len(tok)-2] + "AA"
		if bad == tok {
			bad = tok[:len(tok)-2] + "BA"
		}
		_, err := s.verify(bad, t0)
		assert.ErrorIs(t, err, ErrTokenInvalid)
		cached := s.cache.get(bad) != nil
		assert.False(t, cached, "failures are never cached")
	})
	t.Run("a slot collision is caught by the full comparison", func(t *testing.T) {
		other := "k1.forged.token"
		saved := s.cache.slot(other).Load() // the slot may be tok's own
		s.cache.slot(other).Store(&cachedToken{token: tok, claims: first})
		ok := s.cache.get(other) != nil
		assert.False(t, ok)
		s.cache.slot(other).Store(saved)
	})
	t.Run("times are checked on hits", func(t *testing.T) {
		_, err := s.verify(tok, t0) // cache it, whatever the subtests before did
		require.NoError(t, err)
		cached := s.cache.get(tok) != nil
		require.True(t, cached)
		_, err = s.verify(tok, t0.Add(-time.Second))
		assert.ErrorIs(t, err, ErrTokenInvalid, "issued in the future")
		cached = s.cache.get(tok) != nil
		assert.True(t, cached, "a token from the future stays: it is valid later")
		_, err = s.verify(tok, t0.Add(time.Hour))
		assert.ErrorIs(t, err, ErrTokenExpired)
		cached = s.cache.get(tok) != nil
		assert.False(t, cached, "an expired token leaves the cache")
	})
	t.Run("bounded", func(t *testing.T) {
		for i := range 20 {
			tok, err := s.Sign(ctx, newClaims(fmt.Sprint("u", i), t0, time.Hour))
			require.NoError(t, err)
			_, err = s.verify(tok, t0)
			require.NoError(t, err, "a full cache still verifies")
		}
		assert.LessOrEqual(t, s.cache.len(), 4)
		assert.Len(t, s.cache.slots, 4)
	})
	t.Run("a new token takes its slot", func(t *testing.T) {
		fresh, err := s.Sign(ctx, newClaims("late", t0, time.Hour))
		require.NoError(t, err)
		_, err = s.verify(fresh, t0)
		require.NoError(t, err)
		cached := s.cache.get(fresh) != nil
		assert.True(t, cached)
	})
	t.Run("size rounds up to a power of two", func(t *testing.T) {
		for size, want := range map[int]int{1: 1, 2: 2, 3: 4, 1000: 1024, 1024: 1024} {
			assert.Len(t, newTokenCache(size).slots, want, "size %d", size)
		}
	})
	t.Run("off", func(t *testing.T) {
		s, err := newHMACSigner(hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: "k1", Secret: testKey1}}, CacheSize: -1})
		require.NoError(t, err)
		assert.Nil(t, s.cache)
	})
}

func TestCachedVerifyAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	s := newTestSigner(t, "")
	tok, err := s.Sign(context.Background(), newClaims("user-1", time.Now(), time.Hour))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = s.Verify(ctx, tok)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func TestConstantTimeEqual(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"", "", true}, {"abc", "abc", true}, {"abc", "abd", false}, {"abc", "ab", false},
		{strings.Repeat("x", 300), strings.Repeat("x", 300), true},
	} {
		assert.Equal(t, tt.want, constantTimeEqual(tt.a, tt.b), "%q %q", tt.a, tt.b)
	}
	// One differing byte anywhere: in a two-word turn, a one-word turn or
	// the byte tail.
	for n := 1; n <= 40; n++ {
		a := strings.Repeat("k", n)
		for i := range n {
			b := a[:i] + "K" + a[i+1:]
			if constantTimeEqual(a, b) {
				t.Errorf("length %d, byte %d differs: equal", n, i)
			}
		}
		assert.True(t, constantTimeEqual(a, strings.Clone(a)), "length %d", n)
	}
}
