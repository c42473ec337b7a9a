package httpauth

// Native fuzz targets seeded with known-hostile payloads. The
// seeds run as ordinary tests; fuzz with, for example,
//
//	go test -run '^$' -fuzz FuzzVerifyToken -fuzztime 20s .

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// fzHeaderSeeds are hostile Authorization values: bad schemes, spacing,
// base64, separators, controls and sizes.
func fzHeaderSeeds() []string {
	return []string{
		"", "Basic", "Basic ", "Bearer", "Bearer ", "basic Og==", "Basic Og==",
		basicHeader("alice", "pw"), basicHeader("alice", "pa:ss"), basicHeader("", "pw"), basicHeader("tok.en", ""),
		"BASIC " + b64("a:b"), "Basic  " + b64("a:b"), "Basic\t" + b64("a:b"), "Basic" + b64("a:b"),
		"Basic NOT_VALID_BASE64", "Basic =a=", "Basic foo bar", "Basic YWxpY2U6cHc", "Basic YWxpY2U6cHc===",
		"Basic " + b64("alice:p\x00w"), "Basic " + b64("al\rice:pw"), "Basic " + b64("alice:\xff"),
		"Bearer abc", "Bearer a.b.c", "Bearer a.b.c.d", "Bearer ..", "Bearer abc==", "Bearer =abc", "Bearer a b",
		"Bearer " + strings.Repeat(".", 9000), "Bearer \"tok\"", "Bearer tok,", "Bearer tok:x",
		"Digest username=\"a\"", "Token abc", "Negotiate abc", "Basic x, Bearer y",
		"Basic \xff\xfe", "Bearer \x80", "Basic " + b64("a:b") + "\x00",
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range fzHeaderSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := &http.Request{Header: http.Header{"Authorization": {v}}}
		c, err := parseCredentials(r, "", 8192)
		if err != nil {
			if c.Login != "" || c.Password != "" || c.Token != "" {
				t.Fatalf("%q: error %v with credentials %+v", v, err, c)
			}
			if errors.Is(err, ErrNoCredentials) != (v == "") {
				t.Fatalf("%q: ErrNoCredentials iff the value is empty, got %v", v, err)
			}
			return
		}
		// Accepted credentials have exactly one spelling: re-encoding them
		// gives back the header, up to the case of the scheme.
		scheme, rest, _ := strings.Cut(v, " ")
		switch c.Transport {
		case transportBasic:
			if c.Password == "" || !validCredentialText(c.Login) || !validCredentialText(c.Password) || strings.Contains(c.Login, ":") {
				t.Fatalf("%q: bad Basic credentials accepted: %+v", v, c)
			}
			// One spelling in UTF-8, and one in ISO-8859-1 for text that
			// only that charset reads (bytes that are not valid UTF-8).
			utf8Form := base64.StdEncoding.EncodeToString([]byte(c.Login + ":" + c.Password))
			if !strings.EqualFold(scheme, "Basic") || rest != utf8Form && rest != latin1Form(c.Login+":"+c.Password) {
				t.Fatalf("%q: accepted spelling differs from the canonical ones", v)
			}
		case transportBasicToken:
			if !strings.EqualFold(scheme, "Basic") || rest != base64.StdEncoding.EncodeToString([]byte(c.Token+":")) && rest != latin1Form(c.Token+":") {
				t.Fatalf("%q: accepted spelling differs from the canonical one", v)
			}
		case transportBearer:
			if !strings.EqualFold(scheme, "Bearer") || rest != c.Token || c.Token == "" {
				t.Fatalf("%q: bearer token %q", v, c.Token)
			}
		default:
			t.Fatalf("%q: transport %v", v, c.Transport)
		}
	})
}

// fzSigner is the access-token signer, on the real clock: it verifies at
// t0 in a synctest bubble after atT0.
// atT0 moves a new synctest bubble's clock to t0.
func atT0() { time.Sleep(time.Until(t0)) }

func fzSigner(tb testing.TB) *HMACSigner {
	s, err := newHMACSigner(hmacSignerConfig{
		Keys:    []SigningKey{{ID: testKID, Secret: testKey1}},
		Purpose: defaultPurpose,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func FuzzVerifyToken(f *testing.F) {
	s := fzSigner(f)
	ctx := context.Background()
	valid := func(sub string, iat, exp time.Time) string {
		tok, err := s.Sign(ctx, Claims{Subject: sub, ID: testJTI, IssuedAt: iat, ExpiresAt: exp})
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	good := valid("u-alice", t0.Add(-time.Minute), t0.Add(time.Hour))
	kid, payload, mac := tokenParts(good)
	iat, exp := t0.Add(-time.Minute).UnixNano(), t0.Add(time.Hour).UnixNano()
	seeds := []string{
		good,
		valid(strings.Repeat("s", 255), t0, t0.Add(time.Nanosecond)),
		valid("ü", t0.Add(-time.Hour), t0.Add(time.Hour)),
		"", ".", "..", "...", "a.b.c", "a.b.c.d", kid + "." + payload, kid + "." + payload + ".",
		good + "=", good + ".", good + "\n", "\r\n" + good, flipPadBits(good),
		"none." + payload + ".", kid + "." + payload + "." + strings.Repeat("A", 43),
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1LWFsaWNlIn0.",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1LWFsaWNlIiwiZXhwIjoiMSJ9." + mac,
		strings.Repeat(".", 10000), strings.Repeat("A", maxTokenLen+1),
		signRaw(testKID, testKey1, defaultPurpose, tokenPayload(1, iat, 0, testJTI, "u")),
		signRaw(testKID, testKey1, defaultPurpose, tokenPayload(1, iat, -1, testJTI, "u")),
		signRaw(testKID, testKey1, defaultPurpose, tokenPayload(1, exp, iat, testJTI, "u")),
		signRaw(testKID, testKey1, defaultPurpose, tokenPayload(2, iat, exp, testJTI, "u")),
		// A zero ID and a non-UTF-8 subject are in
		// TestVerifyRejectsWhatSignRefuses.
		signRaw(testKID, testKey1, defaultPurpose, tokenPayload(1, iat, exp, testJTI, "")),
		signRaw(testKID, testKey1, defaultPurpose, tokenPayload(1, iat, exp, testJTI, "u")[:20]),
		signRaw(testKID, testKey1, "other", tokenPayload(1, iat, exp, testJTI, "u")),
		signRaw(testKID, testKey3, defaultPurpose, tokenPayload(1, iat, exp, testJTI, "u")),
		signRaw("k9", testKey1, defaultPurpose, tokenPayload(1, iat, exp, testJTI, "u")),
	}
	for _, sd := range seeds {
		f.Add(sd)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		var c Claims
		var err error
		synctest.Test(t, func(t *testing.T) {
			atT0()
			c, err = s.Verify(ctx, tok)
		})
		if err != nil {
			inv, expd := errors.Is(err, ErrTokenInvalid), errors.Is(err, ErrTokenExpired)
			if inv == expd {
				t.Fatalf("%q: want exactly one of invalid/expired, got %v", tok, err)
			}
			if c != (Claims{}) {
				t.Fatalf("%q: claims returned with an error", tok)
			}
			return
		}
		if c.KeyID != testKID || c.Subject == "" || c.ID == [16]byte{} ||
			!c.ExpiresAt.After(c.IssuedAt) || !t0.Before(c.ExpiresAt) || c.IssuedAt.After(t0) {
			t.Fatalf("%q: verified claims out of bounds: %+v", tok, c)
		}
		// Only tokens the signer made verify: signing the claims again
		// gives back the very same string.
		again, err := s.Sign(ctx, c)
		if err != nil {
			t.Fatalf("%q verified but its claims do not sign: %v", tok, err)
		}
		if again != tok {
			t.Fatalf("verified token %q is not the signer's spelling %q", tok, again)
		}
	})
}

func FuzzDecodeHash(f *testing.F) {
	// Small bounds keep every iteration cheap: at most 1 MiB and 2 passes
	// for argon2id, bcrypt cost 4 only.
	h := &argon2idHasher{Memory: 64, Time: 1, MaxMemory: 1024, MaxTime: 2, MinBcryptCost: 4, MaxBcryptCost: 4}
	ctx := context.Background()
	bc4, err := bcrypt.GenerateFromPassword([]byte("password"), 4)
	if err != nil {
		f.Fatal(err)
	}
	own, err := h.Hash(ctx, "password")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pwtBase, "password")
	f.Add(own, "password")
	f.Add(string(bc4), "password")
	f.Add(string(bc4)+"x", "password")
	f.Add(pwtBase+"\n", "password")
	for _, s := range []string{
		"", "password", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
		"$argon2id$v=19$m=64,t=0,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7",
		"$argon2id$v=19$m=64,t=1,p=0$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7",
		"$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7",
		"$argon2id$v=19$m=9999999999,t=9999999999,p=9999999999$$",
		"$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$$$$$", "$2a$31$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga",
		"$2a$04$", "$2a$04$XajjQvNhvvRt5GSeFk1xFe", "$2y$04$" + strings.Repeat("A", 200),
	} {
		f.Add(s, "password")
	}
	f.Fuzz(func(t *testing.T, stored, pw string) {
		if len(pw) > 256 {
			pw = pw[:256]
		}
		ok, err := h.Verify(ctx, stored, pw)
		if err != nil && !errors.Is(err, ErrUntrustedHash) {
			t.Fatalf("%q: unexpected error kind %v", stored, err)
		}
		if ok && (err != nil || !(strings.HasPrefix(stored, "$argon2id$") || isBcrypt(stored) || isForeign(stored))) {
			t.Fatalf("%q verified (err %v)", stored, err)
		}
		_ = h.NeedsRehash(ctx, stored)
	})
}

// FuzzMiddleware runs arbitrary Authorization values through the real
// middleware: never a panic or a 500, and a 200 only for the canonical
// spelling of known-good credentials.
func FuzzMiddleware(f *testing.F) {
	// The token must be the same in every fuzz worker process, so it is
	// crafted with a fixed ID rather than issued; each input runs in a
	// synctest bubble, whose environment is ready at t0.
	tok := craftToken(t0.Add(-time.Minute), t0.Add(time.Hour), "u-alice")
	goodBasic := b64("alice:" + alicePW)
	goodToken := b64(tok + ":")
	for _, s := range fzHeaderSeeds() {
		f.Add(s)
	}
	f.Add("Basic " + goodBasic)
	f.Add("bAsIc " + goodBasic)
	f.Add("Bearer " + tok)
	f.Add("Basic " + goodToken)
	f.Fuzz(func(t *testing.T, v string) {
		var w *httptest.ResponseRecorder
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, func(c *testSetup[testUser]) {
				c.disableThrottling = true
				c.Logger = slog.New(slog.DiscardHandler)
			})
			r := httptest.NewRequest(http.MethodGet, "/api/things", nil)
			r.Header = http.Header{"Authorization": {v}}
			w = e.serve(e.auth.Middleware(e.next), r)
		})
		scheme, rest, _ := strings.Cut(v, " ")
		switch w.Code {
		case http.StatusOK:
			// Logins match case-insensitively (the memory store lower-cases
			// them); the password and the base64 spelling must be exact.
			raw, err := base64.StdEncoding.DecodeString(rest)
			login, pw, _ := strings.Cut(string(raw), ":")
			alice := err == nil && b64(string(raw)) == rest && strings.ToLower(login) == "alice" && pw == alicePW
			ok := strings.EqualFold(scheme, "Basic") && (alice || rest == goodToken) ||
				strings.EqualFold(scheme, "Bearer") && rest == tok
			if !ok {
				t.Fatalf("%q authenticated", v)
			}
		case http.StatusUnauthorized, http.StatusBadRequest:
			if len(rest) >= 8 && strings.Contains(w.Body.String(), rest) {
				t.Fatalf("%q echoed", v)
			}
		default:
			t.Fatalf("%q: status %d", v, w.Code)
		}
	})
}

// latin1Form is the base64 of s encoded as ISO-8859-1, or "" when s has a
// character beyond it or its bytes would be valid UTF-8 (then only the
// UTF-8 spelling is read).
func latin1Form(s string) string {
	var b []byte
	for _, r := range s {
		if r > 0xff {
			return ""
		}
		b = append(b, byte(r))
	}
	if utf8.Valid(b) {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}
