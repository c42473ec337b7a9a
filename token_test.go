package httpauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	testKey1 = testSecret(1)
	testKey2 = testSecret(2)
	t0       = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestSigner(t *testing.T, clock *fakeClock, purpose string, keys ...SigningKey) *HMACSigner {
	t.Helper()
	if len(keys) == 0 {
		keys = []SigningKey{{ID: "k1", Secret: testKey1}}
	}
	if purpose == "" {
		purpose = defaultPurpose
	}
	s, err := newHMACSigner(hmacSignerConfig{Keys: keys, Purpose: purpose, Now: clock.Now})
	require.NoError(t, err)
	return s
}

func TestNewHMACSignerValidation(t *testing.T) {
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
		{"negative leeway", hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: "k", Secret: testKey1}}, Leeway: -1}, "leeway"},
		{"huge leeway", hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: "k", Secret: testKey1}}, Leeway: time.Hour}, "leeway"},
		// Issue 9 #14: a signer for another use must name its purpose.
		{"empty purpose", hmacSignerConfig{Keys: []SigningKey{{ID: "k", Secret: testKey1}}}, "explicit Purpose"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newHMACSigner(tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	clock := &fakeClock{t0}
	s := newTestSigner(t, clock, "")
	want := newClaims("user-42", clock.Now(), time.Hour)
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
	s := newTestSigner(t, &fakeClock{t0}, "")
	good := newClaims("u", t0, time.Hour)
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
			c := good
			tt.mutate(&c)
			_, err := s.Sign(context.Background(), c)
			assert.Error(t, err)
		})
	}
}

func TestVerifyExpiryWithInjectedClock(t *testing.T) {
	clock := &fakeClock{t0}
	s := newTestSigner(t, clock, "")
	tok, err := s.Sign(context.Background(), newClaims("u", t0, time.Hour))
	require.NoError(t, err)

	tests := []struct {
		name string
		at   time.Time
		want error
	}{
		{"at issue", t0, nil},
		{"one ns before expiry", t0.Add(time.Hour - 1), nil},
		{"at expiry", t0.Add(time.Hour), ErrTokenExpired},
		{"after expiry", t0.Add(2 * time.Hour), ErrTokenExpired},
		{"issued in the future", t0.Add(-time.Second), ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.t = tt.at
			_, err := s.Verify(context.Background(), tok)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
			// exactly one verdict, never both (CVE-2024-51744)
			assert.False(t, errors.Is(err, ErrTokenExpired) && errors.Is(err, ErrTokenInvalid))
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	clock := &fakeClock{t0}
	s, err := newHMACSigner(hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: "k1", Secret: testKey1}}, Leeway: 30 * time.Second, Now: clock.Now})
	require.NoError(t, err)
	tok, err := s.Sign(context.Background(), newClaims("u", t0.Add(30*time.Second), time.Hour))
	require.NoError(t, err)
	_, err = s.Verify(context.Background(), tok)
	assert.NoError(t, err, "iat within leeway")
	tok, err = s.Sign(context.Background(), newClaims("u", t0.Add(31*time.Second), time.Hour))
	require.NoError(t, err)
	_, err = s.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, ErrTokenInvalid, "iat beyond leeway")
}

func TestKeyRotation(t *testing.T) {
	clock := &fakeClock{t0}
	k1 := SigningKey{ID: "k1", Secret: testKey1}
	k2 := SigningKey{ID: "k2", Secret: testKey2}
	old := newTestSigner(t, clock, "", k1)
	rotated := newTestSigner(t, clock, "", k2, k1) // k2 signs, k1 still verifies
	retired := newTestSigner(t, clock, "", k2)     // k1 gone

	oldTok, err := old.Sign(context.Background(), newClaims("u", t0, time.Hour))
	require.NoError(t, err)
	newTok, err := rotated.Sign(context.Background(), newClaims("u", t0, time.Hour))
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
	clock := &fakeClock{t0}
	api := newTestSigner(t, clock, "")
	other := newTestSigner(t, clock, "", SigningKey{ID: "k1", Secret: testKey2})
	confirm := newTestSigner(t, clock, "email-confirmation")

	tok, err := confirm.Sign(context.Background(), newClaims("u", t0, time.Hour))
	require.NoError(t, err)
	_, err = api.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, ErrTokenInvalid, "a token for another purpose")
	_, err = confirm.Verify(context.Background(), tok)
	assert.NoError(t, err)

	tok, err = other.Sign(context.Background(), newClaims("u", t0, time.Hour))
	require.NoError(t, err)
	_, err = api.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, ErrTokenInvalid, "another deployment's key with the same kid")
}

func TestTamperedAndMalformedTokens(t *testing.T) {
	clock := &fakeClock{t0}
	s := newTestSigner(t, clock, "")
	// The std-alphabet case needs a token with '-' or '_' in it to differ.
	var tok string
	for !strings.ContainsAny(tok, "-_") {
		var err error
		tok, err = s.Sign(context.Background(), newClaims("user-1", t0, time.Hour))
		require.NoError(t, err)
	}
	kid, rest, _ := strings.Cut(tok, ".")
	payload, mac, _ := strings.Cut(rest, ".")

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
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
			_, err := s.Verify(context.Background(), bad)
			assert.ErrorIs(t, err, ErrTokenInvalid)
		})
	}
}

// TestStrictDecodingPadBits checks that the last character of the MAC and
// payload has exactly one accepted spelling: variants that differ only in
// the unused low bits decode to the same bytes with a lenient decoder.
func TestStrictDecodingPadBits(t *testing.T) {
	clock := &fakeClock{t0}
	s := newTestSigner(t, clock, "")
	tok, err := s.Sign(context.Background(), newClaims("user-1", t0, time.Hour))
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
			_, err := s.Verify(context.Background(), v)
			assert.ErrorIs(t, err, ErrTokenInvalid)
		})
	}
	assert.Equal(t, 3, variants)
}

// signRaw signs arbitrary payload bytes the way HMACSigner does, so tests
// can build genuinely signed tokens with values Sign refuses to make.
func signRaw(kid string, secret []byte, purpose string, payload []byte) string {
	signed := kid + "." + tokenB64.EncodeToString(payload)
	m := hmac.New(sha256.New, deriveKey(secret, purpose))
	m.Write([]byte(signed))
	return signed + "." + tokenB64.EncodeToString(m.Sum(nil))
}

func rawPayload(version byte, iat, exp int64, subject string) []byte {
	p := make([]byte, payloadFixed, payloadFixed+len(subject))
	p[0] = version
	binary.BigEndian.PutUint64(p[1:], uint64(iat))
	binary.BigEndian.PutUint64(p[9:], uint64(exp))
	copy(p[17:], bytes.Repeat([]byte{7}, 16))
	return append(p, subject...)
}

func TestSignedButInvalidPayloads(t *testing.T) {
	clock := &fakeClock{t0}
	s := newTestSigner(t, clock, "")
	now := t0.UnixNano()
	tests := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"valid control", rawPayload(1, now, now+int64(time.Hour), "u"), nil},
		{"exp zero", rawPayload(1, now, 0, "u"), ErrTokenInvalid},
		{"exp negative", rawPayload(1, now, -1, "u"), ErrTokenInvalid},
		{"exp before iat", rawPayload(1, now, now-1, "u"), ErrTokenInvalid},
		{"iat zero", rawPayload(1, 0, now+1, "u"), ErrTokenInvalid},
		{"unknown version", rawPayload(2, now, now+int64(time.Hour), "u"), ErrTokenInvalid},
		{"no subject", rawPayload(1, now, now+int64(time.Hour), ""), ErrTokenInvalid},
		{"short payload", []byte{1, 2, 3}, ErrTokenInvalid},
		{"expired", rawPayload(1, now-2, now-1, "u"), ErrTokenExpired},
		{"far future exp is fine", rawPayload(1, now, 1<<62, "u"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Verify(context.Background(), signRaw("k1", testKey1, defaultPurpose, tt.payload))
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
	s, err := newHMACSigner(hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: "k1", Secret: testKey1}}, CacheSize: -1, Now: (&fakeClock{t0}).Now})
	require.NoError(t, err)
	tok, err := s.Sign(context.Background(), newClaims("user-1", t0, time.Hour))
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
	seen := map[[16]byte]bool{}
	for range 1000 {
		c := newClaims("u", t0, time.Hour)
		require.NotEqual(t, [16]byte{}, c.ID)
		require.False(t, seen[c.ID])
		seen[c.ID] = true
	}
}
