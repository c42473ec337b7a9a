package httpauth

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewHMACSignerValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  hmacSignerConfig
		want string
	}{
		{"no keys", hmacSignerConfig{}, "at least one key"},
		{"short key", hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: "k1", Secret: make([]byte, 31)}}}, "at least 32"},
		{"empty key ID", hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{Secret: testKey1}}}, "ID must be"},
		{"key ID with a dot", hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: "k.1", Secret: testKey1}}}, "ID must be"},
		{"key ID too long", hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: strings.Repeat("k", 17), Secret: testKey1}}}, "ID must be"},
		{"duplicate key ID", hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: "k", Secret: testKey1}, {ID: "k", Secret: testKey2}}}, "used twice"},
		// A signer for another use must name its purpose.
		{"empty purpose", hmacSignerConfig{Keys: []SigningKey{{ID: "k", Secret: testKey1}}}, "explicit Purpose"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := newHMACSigner(tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	s := newTestSigner(t, "")
	want := newClaims("user-42", time.Now(), time.Hour)
	tok, err := s.Sign(context.Background(), want)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(tok, "k1."))
	assert.LessOrEqual(t, len(tok), maxTokenLen)

	got, err := s.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, want.Subject, got.Subject)
	assert.Equal(t, want.ID, got.ID)
	assert.True(t, want.IssuedAt.Equal(got.IssuedAt))
	assert.True(t, want.ExpiresAt.Equal(got.ExpiresAt))
	assert.Equal(t, "k1", got.KeyID)
	assert.Equal(t, defaultPurpose, s.purpose)
}

func TestSignRejectsBadClaims(t *testing.T) {
	t.Parallel()
	s := newTestSigner(t, "")
	good := newClaims("u", time.Now(), time.Hour)
	tests := []struct {
		name   string
		mutate func(*Claims)
	}{
		{"empty subject", func(c *Claims) { c.Subject = "" }},
		{"long subject", func(c *Claims) { c.Subject = strings.Repeat("x", 256) }},
		{"invalid UTF-8 subject", func(c *Claims) { c.Subject = "\xff" }},
		{"zero ID", func(c *Claims) { c.ID = [16]byte{} }},
		{"no issue time", func(c *Claims) { c.IssuedAt = time.Time{} }},
		{"no expiry", func(c *Claims) { c.ExpiresAt = time.Time{} }},
		{"expiry equals issue", func(c *Claims) { c.ExpiresAt = c.IssuedAt }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := good
			tt.mutate(&c)
			_, err := s.Sign(context.Background(), c)
			assert.Error(t, err)
		})
	}
}

// A token is valid from its issue to the nanosecond before its expiry. Each
// case runs in a synctest bubble, whose clock moves only by time.Sleep.
func TestVerifyExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		issued time.Duration // from now
		after  time.Duration // slept before Verify
		want   error
	}{
		{"at issue", 0, 0, nil},
		{"one ns before expiry", 0, time.Hour - 1, nil},
		{"at expiry", 0, time.Hour, ErrTokenExpired},
		{"after expiry", 0, 2 * time.Hour, ErrTokenExpired},
		{"issued in the future", time.Second, 0, ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s := newTestSigner(t, "")
				tok, err := s.Sign(context.Background(), newClaims("u", time.Now().Add(tt.issued), time.Hour))
				require.NoError(t, err)
				time.Sleep(tt.after)
				_, err = s.Verify(context.Background(), tok)
				if tt.want == nil {
					assert.NoError(t, err)
					return
				}
				assert.ErrorIs(t, err, tt.want)
				// exactly one verdict, never both (CVE-2024-51744)
				assert.False(t, errors.Is(err, ErrTokenExpired) && errors.Is(err, ErrTokenInvalid))
			})
		})
	}
}

func TestVerifyIssuedAt(t *testing.T) {
	t.Parallel()
	// In a bubble the clock stands still between Sign and Verify.
	synctest.Test(t, func(t *testing.T) {
		s, err := newHMACSigner(hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: "k1", Secret: testKey1}}})
		require.NoError(t, err)
		tok, err := s.Sign(context.Background(), newClaims("u", time.Now(), time.Hour))
		require.NoError(t, err)
		_, err = s.Verify(context.Background(), tok)
		assert.NoError(t, err, "issued now")
		tok, err = s.Sign(context.Background(), newClaims("u", time.Now().Add(1), time.Hour))
		require.NoError(t, err)
		_, err = s.Verify(context.Background(), tok)
		assert.ErrorIs(t, err, ErrTokenInvalid, "issued in the future")
	})
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	k1 := SigningKey{ID: "k1", Secret: testKey1}
	k2 := SigningKey{ID: "k2", Secret: testKey2}
	old := newTestSigner(t, "", k1)
	rotated := newTestSigner(t, "", k2, k1) // k2 signs, k1 still verifies
	retired := newTestSigner(t, "", k2)     // k1 gone

	oldTok, err := old.Sign(context.Background(), newClaims("u", time.Now(), time.Hour))
	require.NoError(t, err)
	newTok, err := rotated.Sign(context.Background(), newClaims("u", time.Now(), time.Hour))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(newTok, "k2."), "first key signs")

	c, err := rotated.Verify(context.Background(), oldTok)
	require.NoError(t, err, "verify-only key still verifies")
	assert.Equal(t, "k1", c.KeyID)
	_, err = rotated.Verify(context.Background(), newTok)
	assert.NoError(t, err)
	_, err = retired.Verify(context.Background(), oldTok)
	assert.ErrorIs(t, err, ErrTokenInvalid, "retired key")
	_, err = old.Verify(context.Background(), newTok)
	assert.ErrorIs(t, err, ErrTokenInvalid, "unknown kid")

	// Relabelling a token with another configured kid does not help.
	relabelled := "k2" + strings.TrimPrefix(oldTok, "k1")
	_, err = rotated.Verify(context.Background(), relabelled)
	assert.ErrorIs(t, err, ErrTokenInvalid)
}

func TestWrongKeyAndPurpose(t *testing.T) {
	t.Parallel()
	api := newTestSigner(t, "")
	other := newTestSigner(t, "", SigningKey{ID: "k1", Secret: testKey2})
	confirm := newTestSigner(t, "email-confirmation")

	tok, err := confirm.Sign(context.Background(), newClaims("u", time.Now(), time.Hour))
	require.NoError(t, err)
	_, err = api.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, ErrTokenInvalid, "a token for another purpose")
	_, err = confirm.Verify(context.Background(), tok)
	assert.NoError(t, err)

	tok, err = other.Sign(context.Background(), newClaims("u", time.Now(), time.Hour))
	require.NoError(t, err)
	_, err = api.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, ErrTokenInvalid, "another deployment's key with the same kid")
}

func TestTamperedAndMalformedTokens(t *testing.T) {
	t.Parallel()
	s := newTestSigner(t, "")
	// The std-alphabet case needs a token with '-' or '_' in it to differ.
	var tok string
	for !strings.ContainsAny(tok, "-_") {
		var err error
		tok, err = s.Sign(context.Background(), newClaims("user-1", time.Now(), time.Hour))
		require.NoError(t, err)
	}
	kid, rest, _ := strings.Cut(tok, ".")
	payload, mac, _ := strings.Cut(rest, ".")

	flip := flipChar
	tests := map[string]string{
		"empty":                "",
		"one segment":          kid,
		"two segments":         kid + "." + payload,
		"four segments":        tok + ".x",
		"dots":                 "..",
		"a.b.c.d":              "a.b.c.d",
		"payload byte flipped": kid + "." + flip(payload, 5) + "." + mac,
		"mac byte flipped":     kid + "." + payload + "." + flip(mac, 3),
		"missing mac":          kid + "." + payload + ".",
		"truncated mac":        tok[:len(tok)-1],
		"padded mac":           tok + "=",
		"padded payload":       kid + "." + payload + "=." + mac,
		"std alphabet":         kid + "." + strings.NewReplacer("-", "+", "_", "/").Replace(payload) + "." + strings.NewReplacer("-", "+", "_", "/").Replace(mac),
		"space inside":         kid + "." + payload[:3] + " " + payload[3:] + "." + mac,
		"too long":             tok + strings.Repeat("A", maxTokenLen),
		"empty payload":        kid + ".." + mac,
		"none alg style":       "none." + payload + "." + mac,
		"uppercase kid":        "K1." + payload + "." + mac,
	}
	for name, bad := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := s.Verify(context.Background(), bad)
			assert.ErrorIs(t, err, ErrTokenInvalid)
		})
	}
}

// TestStrictDecodingPadBits checks that the last character of the MAC and
// payload has exactly one accepted spelling: variants that differ only in
// the unused low bits decode to the same bytes with a lenient decoder.
func TestStrictDecodingPadBits(t *testing.T) {
	t.Parallel()
	s := newTestSigner(t, "")
	tok, err := s.Sign(context.Background(), newClaims("user-1", time.Now(), time.Hour))
	require.NoError(t, err)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	require.GreaterOrEqual(t, last, 0)
	// 32 bytes = 43 chars: the last char carries 4 data bits and 2 pad bits.
	variants := 0
	for pad := 1; pad < 4; pad++ {
		v := tok[:len(tok)-1] + string(alphabet[last|pad])
		if v == tok {
			continue
		}
		variants++
		t.Run(v[len(v)-3:], func(t *testing.T) {
			t.Parallel()
			_, err := s.Verify(context.Background(), v)
			assert.ErrorIs(t, err, ErrTokenInvalid)
		})
	}
	assert.Equal(t, 3, variants)
}

func TestSignedButInvalidPayloads(t *testing.T) {
	t.Parallel()
	s := newTestSigner(t, "")
	now := time.Now().UnixNano()
	tests := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"valid control", tokenPayload(1, now, now+int64(time.Hour), testJTI, "u"), nil},
		{"exp zero", tokenPayload(1, now, 0, testJTI, "u"), ErrTokenInvalid},
		{"exp negative", tokenPayload(1, now, -1, testJTI, "u"), ErrTokenInvalid},
		{"exp before iat", tokenPayload(1, now, now-1, testJTI, "u"), ErrTokenInvalid},
		{"iat zero", tokenPayload(1, 0, now+1, testJTI, "u"), ErrTokenInvalid},
		{"unknown version", tokenPayload(2, now, now+int64(time.Hour), testJTI, "u"), ErrTokenInvalid},
		{"no subject", tokenPayload(1, now, now+int64(time.Hour), testJTI, ""), ErrTokenInvalid},
		{"short payload", []byte{1, 2, 3}, ErrTokenInvalid},
		{"expired", tokenPayload(1, now-2, now-1, testJTI, "u"), ErrTokenExpired},
		{"far future exp is fine", tokenPayload(1, now, 1<<62, testJTI, "u"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.Verify(context.Background(), signRaw(testKID, testKey1, defaultPurpose, tt.payload))
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

func TestVerifyAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts; CI runs this without -race too")
	}
	s, err := newHMACSigner(hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: "k1", Secret: testKey1}}, CacheSize: -1})
	require.NoError(t, err)
	tok, err := s.Sign(context.Background(), newClaims("user-1", time.Now(), time.Hour))
	require.NoError(t, err)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 1.0, "only the subject string may allocate")

	dots := strings.Repeat(".", 1<<20)
	allocs = testing.AllocsPerRun(20, func() { _, _ = s.Verify(ctx, dots) })
	assert.LessOrEqual(t, allocs, 1.0)
}

func TestTokenIDsAreUnique(t *testing.T) {
	t.Parallel()
	seen := map[[16]byte]bool{}
	for range 1000 {
		c := newClaims("u", time.Now(), time.Hour)
		require.NotEqual(t, [16]byte{}, c.ID)
		require.False(t, seen[c.ID])
		seen[c.ID] = true
	}
}

// TestKeyChecks runs one table of secrets through both ways a key comes
// in: KeyFromHex (hex from the environment) and NewHMACSigner (bytes).
func TestKeyChecks(t *testing.T) {
	t.Parallel()
	distinct := func(n int) []byte { // 32 bytes with exactly n distinct values, no run
		b := make([]byte, 32)
		for i := range b {
			k := byte(i % n)
			b[i] = k*k*7 + 13
		}
		return b
	}
	counting := func(start, step byte, n int) []byte { // testKey1 with an n-byte run
		b := append([]byte(nil), testKey1...)
		for i := range n {
			b[10+i] = start + byte(i)*step
		}
		return b
	}
	tests := []struct {
		name   string
		secret []byte
		want   string // "" accepts
	}{
		{"random-looking key", testKey1, ""},
		{"16 distinct bytes are enough", distinct(16), ""},
		{"15 distinct bytes are refused", distinct(15), "15 distinct byte values"},
		{"all-zero key is refused", make([]byte, 32), "1 distinct byte values"},
		{"31 bytes are refused", testKey1[:31], "at least 32"},
		{"a longer key is fine", append(append([]byte(nil), testKey1...), testKey2...), ""},
		{"000102…1f is refused", func() []byte {
			b := make([]byte, 32)
			for i := range b {
				b[i] = byte(i)
			}
			return b
		}(), "counting sequence"},
		{"an 8-byte run up is refused", counting(0x90, 3, 8), "counting sequence"},
		{"an 8-byte run down is refused", counting(0x20, 0xff, 8), "counting sequence"},
		{"a 7-byte run is fine", counting(0x90, 3, 7), ""},
		{"the hex of a phrase is refused", []byte("Correct Horse Battery Staple 42!"), "printable text"},
		{"the hex of a long phrase is refused", []byte("Our production signing key, do not share it!"), "printable text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check := func(entry string, err error) {
				if tt.want == "" {
					assert.NoError(t, err, entry)
				} else {
					assert.ErrorContains(t, err, tt.want, entry)
				}
			}
			key, err := KeyFromHex("k1", hex.EncodeToString(tt.secret))
			check("KeyFromHex", err)
			if err == nil {
				assert.Equal(t, tt.secret, key.Secret)
			}
			_, err = NewHMACSigner(SigningKey{ID: "k1", Secret: tt.secret})
			check("NewHMACSigner", err)
		})
	}
	t.Run("hex spelling", func(t *testing.T) {
		t.Parallel()
		h := hex.EncodeToString(testKey1)
		for _, s := range []string{strings.ToUpper(h), " " + h + "\n"} {
			key, err := KeyFromHex("k1", s)
			require.NoError(t, err, "%q", s)
			assert.Equal(t, testKey1, key.Secret)
		}
		_, err := KeyFromHex("k1", h[:len(h)-1]) // odd length
		assert.ErrorContains(t, err, "not valid hex")
	})
	t.Run("key ID", func(t *testing.T) {
		t.Parallel()
		h := hex.EncodeToString(testKey1)
		for _, id := range []string{"", "k.1", strings.Repeat("k", 17)} {
			_, err := KeyFromHex(id, h)
			assert.ErrorContains(t, err, "key ID", "%q", id)
		}
	})
}

// TestIssuedAfter checks the cutoff comparison, done by parts, against its
// definition: iat truncated down to the microsecond, strictly after the
// cutoff, on the wall clock.
func TestIssuedAfter(t *testing.T) {
	base := time.Date(2026, 12, 6, 10, 0, 0, 500_000_000, time.UTC)
	tests := []struct {
		name        string
		iat, cutoff time.Time
		want        bool
	}{
		{"no cutoff", base, time.Time{}, true},
		{"a second after", base.Add(time.Second), base, true},
		{"a second before", base.Add(-time.Second), base, false},
		{"equal", base, base, false},
		{"a microsecond after", base.Add(time.Microsecond), base, true},
		{"a nanosecond after is truncated away", base.Add(time.Nanosecond), base, false},
		{"999ns after is truncated away", base.Add(999), base, false},
		{"cutoff with nanoseconds, iat in the next microsecond", base.Add(time.Microsecond), base.Add(999), true},
		{"cutoff with nanoseconds, iat in its microsecond", base.Add(1500), base.Add(1001), false},
		{"across a second boundary", time.Date(2026, 12, 6, 10, 0, 1, 0, time.UTC), time.Date(2026, 12, 6, 10, 0, 0, 999_999_999, time.UTC), true},
		{"before 1970", time.Date(1969, 1, 1, 0, 0, 0, 2000, time.UTC), time.Date(1969, 1, 1, 0, 0, 0, 1000, time.UTC), true},
		{"far future cutoff", base, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"other zone, same instant", base.In(time.FixedZone("X", 3600)), base, false},
		{"monotonic reading is ignored", time.Now().Add(time.Hour), time.Now().Round(0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, issuedAfter(tt.iat, tt.cutoff))
			if !tt.cutoff.IsZero() {
				assert.Equal(t, tt.iat.Round(0).Truncate(time.Microsecond).After(tt.cutoff.Round(0)), tt.want, "the definition")
			}
		})
	}
}
