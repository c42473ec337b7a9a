package httpauth

// Password hashing: known answers, round trips, strict PHC parsing, bcrypt's
// 72-byte rule and the rehash policy. Helpers are prefixed pwt.

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Known answers for argon2id("password", "somesalt", 24-byte key), from the
// reference-implementation vectors in golang.org/x/crypto/argon2's tests.
var pwtArgon2Vectors = []struct {
	t, m uint32
	p    uint8
	hex  string
}{
	{1, 64, 1, "655ad15eac652dc59f7170a7332bf49b8469be1fdb9c28bb"},
	{2, 64, 1, "068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7"},
	{2, 64, 2, "350ac37222f436ccb5c0972f1ebd3bf6b958bf2071841362"},
	{3, 256, 2, "4668d30ac4187e6878eedeacf0fd83c5a0a30db2cc16ef0b"},
	{4, 4096, 4, "145db9733a9f4ee43edf33c509be96b934d505a4efb33c5a"},
}

func pwtPHC(m, t uint32, p uint8, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// pwtBase is a valid cheap argon2id hash of "password" (the first vector).
var pwtBase = func() string {
	key, _ := hex.DecodeString(pwtArgon2Vectors[0].hex)
	return pwtPHC(64, 1, 1, []byte("somesalt"), key)
}()

func TestPasswordKnownAnswerArgon2id(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, v := range pwtArgon2Vectors {
		t.Run(fmt.Sprintf("m=%d,t=%d,p=%d", v.m, v.t, v.p), func(t *testing.T) {
			t.Parallel()
			key, err := hex.DecodeString(v.hex)
			require.NoError(t, err)
			// The vector itself, straight from x/crypto's primitive.
			require.Equal(t, key, argon2.IDKey([]byte("password"), []byte("somesalt"), v.t, v.m, v.p, 24))
			phc := pwtPHC(v.m, v.t, v.p, []byte("somesalt"), key)
			for _, h := range []*argon2idHasher{cheapHasher, defaultHasher()} {
				ok, err := h.Verify(ctx, phc, "password")
				require.NoError(t, err, phc)
				assert.True(t, ok, phc)
				for _, wrong := range []string{"Password", "password ", " password", "password\x00", "passwor", ""} {
					ok, err := h.Verify(ctx, phc, wrong)
					require.NoError(t, err)
					assert.False(t, ok, "%q must not verify", wrong)
				}
			}
		})
	}
	// The literal form, in case the encoder and decoder drift together.
	ok, err := cheapHasher.Verify(ctx, "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7", "password")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7", pwtBase)
}

func TestPasswordKnownAnswerBcrypt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := defaultHasher()
	// From golang.org/x/crypto/bcrypt's tests.
	cases := []struct{ hash, pw string }{
		{"$2a$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga", "allmine"},
		{"$2a$10$LK9XRuhNxHHCvjX3tdkRKei1QiCDUKrJRhZv7WWZPuQGRUM92rOUa", "passw0rd"},
		{"$2b$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga", "allmine"},
		{"$2y$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga", "allmine"},
	}
	for _, tc := range cases {
		t.Run(tc.hash[:7]+tc.pw, func(t *testing.T) {
			t.Parallel()
			ok, err := h.Verify(ctx, tc.hash, tc.pw)
			require.NoError(t, err)
			assert.True(t, ok)
			if strings.HasPrefix(tc.hash, "$2a$") {
				ok, err = h.Verify(ctx, tc.hash, tc.pw+"x")
				require.NoError(t, err)
				assert.False(t, ok)
			}
			assert.True(t, h.NeedsRehash(ctx, tc.hash), "bcrypt always needs a rehash to argon2id")
		})
	}
}

func TestPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	phcRE := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	t.Run("default parameters", func(t *testing.T) {
		t.Parallel()
		for _, h := range []*argon2idHasher{defaultHasher(), {}} {
			hash, err := h.Hash(ctx, "wonderland-42")
			require.NoError(t, err)
			assert.Regexp(t, phcRE, hash)
			ok, err := h.Verify(ctx, hash, "wonderland-42")
			require.NoError(t, err)
			assert.True(t, ok)
			assert.False(t, h.NeedsRehash(ctx, hash))
		}
	})
	t.Run("exact comparison", func(t *testing.T) {
		t.Parallel()
		pws := []string{"", "\x00", "a\x00b", "pw", strings.Repeat("\U0001D11E", 64), "caf\u00e9", strings.Repeat("x", 4096)}
		for _, pw := range pws {
			hash, err := cheapHasher.Hash(ctx, pw)
			require.NoError(t, err)
			ok, err := cheapHasher.Verify(ctx, hash, pw)
			require.NoError(t, err)
			assert.True(t, ok, "%q", pw)
			for _, other := range []string{pw + " ", strings.ToUpper(pw) + "X", pw + "\x00", "cafe\u0301"} {
				if other == pw {
					continue
				}
				ok, err := cheapHasher.Verify(ctx, hash, other)
				require.NoError(t, err)
				assert.False(t, ok, "%q must not verify %q", other, pw)
			}
		}
	})
	t.Run("fresh salt every time", func(t *testing.T) {
		t.Parallel()
		a, err := cheapHasher.Hash(ctx, "same")
		require.NoError(t, err)
		b, err := cheapHasher.Hash(ctx, "same")
		require.NoError(t, err)
		assert.NotEqual(t, a, b)
	})
	t.Run("canceled context is not an untrusted hash", func(t *testing.T) {
		t.Parallel()
		c, cancel := context.WithCancel(ctx)
		cancel()
		_, err := cheapHasher.Hash(c, "pw")
		assert.ErrorIs(t, err, context.Canceled)
		ok, err := cheapHasher.Verify(c, pwtBase, "password")
		assert.False(t, ok)
		assert.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, ErrUntrustedHash)
	})
}

func TestPasswordUntrustedHashes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	salt := "c29tZXNhbHQ"                     // "somesalt"
	key := "ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7" // the vector's key
	phc := func(params, s, k string) string { return "$argon2id$v=19$" + params + "$" + s + "$" + k }
	const bcryptOK = "$2a$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga"
	cases := map[string]string{
		"t=0":                    phc("m=64,t=0,p=1", salt, key),
		"p=0":                    phc("m=64,t=1,p=0", salt, key),
		"m=0":                    phc("m=0,t=1,p=1", salt, key),
		"m=4GiB":                 phc("m=4194304,t=1,p=1", salt, key),
		"m=2^32 (overflows u32)": phc("m=4294967296,t=1,p=1", salt, key),
		"m=11 digits":            phc("m=10000000000,t=1,p=1", salt, key),
		"m just over MaxMemory":  phc("m=262145,t=1,p=1", salt, key),
		"t just over MaxTime":    phc("m=64,t=17,p=1", salt, key),
		"t=2^32-1":               phc("m=64,t=4294967295,p=1", salt, key),
		"p=17":                   phc("m=256,t=1,p=17", salt, key),
		"p=256 (overflows u8)":   phc("m=4096,t=1,p=256", salt, key),
		"m < 8p":                 phc("m=15,t=1,p=2", salt, key),
		"version 16":             strings.Replace(pwtBase, "v=19", "v=16", 1),
		"version 20":             strings.Replace(pwtBase, "v=19", "v=20", 1),
		"version 019":            strings.Replace(pwtBase, "v=19", "v=019", 1),
		"no version":             "$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"reordered t,m,p":        phc("t=1,m=64,p=1", salt, key),
		"reordered p,m,t":        phc("p=1,m=64,t=1", salt, key),
		"leading zero m":         phc("m=064,t=1,p=1", salt, key),
		"leading zero t":         phc("m=64,t=01,p=1", salt, key),
		"plus sign":              phc("m=+64,t=1,p=1", salt, key),
		"minus sign":             phc("m=64,t=-1,p=1", salt, key),
		"space in params":        phc("m=64, t=1,p=1", salt, key),
		"extra param":            phc("m=64,t=1,p=1,keyid=x", salt, key),
		"missing param":          phc("m=64,t=1", salt, key),
		"empty value":            phc("m=,t=1,p=1", salt, key),
		"uppercase names":        phc("M=64,T=1,P=1", salt, key),
		"padded salt":            phc("m=64,t=1,p=1", salt+"=", key),
		"padded hash":            phc("m=64,t=1,p=1", salt, key+"="),
		"salt stray bits":        phc("m=64,t=1,p=1", salt[:len(salt)-1]+"R", key),
		"url-safe hash":          phc("m=64,t=1,p=1", salt, strings.ReplaceAll(key, "/", "_")),
		"salt too short":         phc("m=64,t=1,p=1", "c2FsdA", key),
		"hash too short":         phc("m=64,t=1,p=1", salt, "AAAAAAAAAAA"),
		"hash too long":          phc("m=64,t=1,p=1", salt, strings.Repeat("A", 88)),
		"empty salt":             phc("m=64,t=1,p=1", "", key),
		"empty hash":             phc("m=64,t=1,p=1", salt, ""),
		"extra segment":          pwtBase + "$x",
		"trailing dollar":        pwtBase + "$",
		"trailing LF":            pwtBase + "\n",
		"leading space":          " " + pwtBase,
		"over 256 bytes":         phc("m=64,t=1,p=1", strings.Repeat("A", 200), key),
		"uppercase prefix":       strings.Replace(pwtBase, "argon2id", "ARGON2ID", 1),
		"argon2i version 16":     strings.Replace(strings.Replace(pwtBase, "argon2id", "argon2i", 1), "v=19", "v=16", 1),
		"argon2d":                strings.Replace(pwtBase, "argon2id", "argon2d", 1),
		"no leading dollar":      pwtBase[1:],
		"empty":                  "",
		"plaintext":              "password",
		"{SHA}":                  "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
		"{SSHA}":                 "{SSHA}dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0",
		"$1$ md5-crypt":          "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
		"$apr1$":                 "$apr1$saltsalt$9Pn9mWCsu4A2TlhwRGMG9.",
		"$5$ sha256-crypt":       "$5$rounds=5000$saltsalt$Gbzv5hNA3/4ytQ3L2HbvWH3vOBXnFAkzjbvXq5l2IZ.",
		"$6$ sha512-crypt":       "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
		"$scrypt$":               "$scrypt$ln=16,r=8,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$pbkdf2-sha256$":        "$pbkdf2-sha256$29000$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$2$ (original bcrypt)":  "$2$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga",
		"$2x$":                   "$2x$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga",
		"bcrypt cost 31":         strings.Replace(bcryptOK, "$10$", "$31$", 1),
		"bcrypt cost 32":         strings.Replace(bcryptOK, "$10$", "$32$", 1),
		"bcrypt cost 17":         strings.Replace(bcryptOK, "$10$", "$17$", 1),
		"bcrypt cost 09":         strings.Replace(bcryptOK, "$10$", "$09$", 1),
		"bcrypt cost 04":         strings.Replace(bcryptOK, "$10$", "$04$", 1),
		"bcrypt cost 1x":         strings.Replace(bcryptOK, "$10$", "$1x$", 1),
		"bcrypt too short":       "$2a$10$fooo",
		"bcrypt prefix only":     "$2a$",
		"bcrypt bad base64 salt": "$2a$10$Xa!jQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga",
	}
	// Base64 decoding in Go skips CR and LF even in Strict mode.
	cases["CR inside key"] = phc("m=64,t=1,p=1", salt, key[:10]+"\r"+key[10:])
	cases["bcrypt trailing garbage"] = bcryptOK + "A"
	cases["bcrypt trailing LF"] = bcryptOK + "\n"
	for name, hash := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, pw := range []string{"password", "allmine", hash, "", "pwt-Presented-Secret"} {
				ok, err := cheapHasher.Verify(ctx, hash, pw)
				assert.False(t, ok, "untrusted hash must never verify")
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrUntrustedHash, "%v", err)
				assert.NotContains(t, err.Error(), "pwt-Presented-Secret", "error must not carry the password")
			}
			if !strings.HasPrefix(hash, "$2") {
				assert.False(t, cheapHasher.NeedsRehash(ctx, hash), "an untrusted hash is not offered a rehash")
			}
		})
	}
	// Damaged bcrypt digests are not detected as malformed (x/crypto only
	// recomputes and compares), but they must never verify.
	for _, hash := range []string{
		"$2a$10$XajjQvNhvvRt5GSeFk1xFe!!qRrsxkhBkUiQeg0dt.wU1qD4aFDcga",
		bcryptOK[:len(bcryptOK)-1],
	} {
		ok, _ := cheapHasher.Verify(ctx, hash, "allmine")
		assert.False(t, ok, "damaged bcrypt hash %q verified", hash)
	}
}

// Custom bounds are honoured.
func TestPasswordHasherBounds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key, _ := hex.DecodeString(pwtArgon2Vectors[3].hex) // m=256,t=3,p=2
	hash := pwtPHC(256, 3, 2, []byte("somesalt"), key)
	ok, err := cheapHasher.Verify(ctx, hash, "password")
	require.NoError(t, err)
	require.True(t, ok)
	for _, h := range []*argon2idHasher{
		{Memory: 64, Time: 1, MaxMemory: 255},
		{Memory: 64, Time: 1, MaxTime: 2},
	} {
		ok, err := h.Verify(ctx, hash, "password")
		assert.False(t, ok)
		assert.ErrorIs(t, err, ErrUntrustedHash)
	}
	strict := &argon2idHasher{Memory: 64, Time: 1, MinBcryptCost: 11}
	ok, err = strict.Verify(ctx, "$2a$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga", "allmine")
	assert.False(t, ok)
	assert.ErrorIs(t, err, ErrUntrustedHash)
}

func TestPasswordBcrypt72ByteRule(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := defaultHasher()
	p72 := strings.Repeat("0123456789ab", 6)
	require.Len(t, p72, 72)
	hash, err := hashBcrypt(p72, 10)
	require.NoError(t, err)
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{p72, true},
		{p72 + "x", false},
		{p72 + "EXTRA", false},
		{p72 + strings.Repeat("y", 1000), false},
		{p72[:71], false},
	} {
		ok, err := h.Verify(ctx, hash, tc.pw)
		require.NoError(t, err)
		assert.Equal(t, tc.want, ok, "%d bytes", len(tc.pw))
	}

	euro72 := strings.Repeat("€", 24) // 24 characters, 72 bytes
	_, err = hashBcrypt(euro72, 10)
	require.NoError(t, err)
	for _, pw := range []string{p72 + "x", strings.Repeat("€", 25), strings.Repeat("\U0001D11E", 64)} {
		_, err := hashBcrypt(pw, 10)
		assert.ErrorIs(t, err, errPasswordTooLong, "%d bytes (%d characters)", len(pw), len([]rune(pw)))
	}
	for _, cost := range []int{-1, 0, 4, 9, 32} {
		_, err := hashBcrypt("pw", cost)
		assert.Error(t, err, "cost %d", cost)
	}
	assert.False(t, errors.Is(nil, errPasswordTooLong))
}

func TestPasswordNeedsRehash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := "ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7"
	phc := func(params string) string { return "$argon2id$v=19$" + params + "$c29tZXNhbHQ$" + key }
	policy := defaultHasher() // m=19456, t=2, p=1
	cases := []struct {
		name string
		hash string
		want bool
	}{
		{"bcrypt cost 10", "$2a$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga", true},
		{"bcrypt cost 12", "$2b$12$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga", true},
		{"at policy", phc("m=19456,t=2,p=1"), false},
		{"memory below policy", phc("m=19455,t=2,p=1"), true},
		{"time below policy", phc("m=19456,t=1,p=1"), true},
		{"both below", phc("m=64,t=1,p=1"), true},
		{"stronger", phc("m=65536,t=3,p=1"), false},
		{"more threads, same cost", phc("m=19456,t=2,p=4"), false},
		{"untrusted argon2id", phc("m=19456,t=0,p=1"), false},
		{"garbage", "not a hash", false},
		{"empty", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, policy.NeedsRehash(ctx, tc.hash))
		})
	}
	// A cheaper policy never asks to rehash a stronger hash.
	assert.False(t, cheapHasher.NeedsRehash(ctx, phc("m=19456,t=2,p=1")))
	assert.False(t, cheapHasher.NeedsRehash(ctx, pwtBase))
}

// hashBcrypt returns a bcrypt hash of password, for the tests that need
// bcrypt hashes. A password over 72 bytes is errPasswordTooLong, never
// truncated; cost must be 10 or more.
func hashBcrypt(password string, cost int) (string, error) {
	if len(password) > bcryptMaxLen {
		return "", fmt.Errorf("%w: bcrypt takes at most %d bytes", errPasswordTooLong, bcryptMaxLen)
	}
	if cost < 10 || cost > bcrypt.MaxCost {
		return "", fmt.Errorf("httpauth: bcrypt cost %d outside 10..%d", cost, bcrypt.MaxCost)
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(b), err
}
