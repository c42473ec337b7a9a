package httpauth

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCanonicalLogin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, login, want string // want "" refuses
	}{
		{"ascii lower-cased", "Alice@Example.COM", "alice@example.com"},
		{"NFC é kept", "caf\u00e9@example.com", "caf\u00e9@example.com"},
		{"NFC É lower-cased", "CAF\u00c9@example.com", "caf\u00e9@example.com"},
		{"NFD é refused", "cafe\u0301@example.com", ""},
		{"Kelvin sign refused", "\u212Aate@example.com", ""},
		{"Ångström sign refused", "\u212Bsa@example.com", ""},
		{"Ohm sign refused", "\u2126mega@example.com", ""},
		{"long s refused", "\u017Fam@example.com", ""},
		{"dotless i refused", "\u0131van@example.com", ""},
		{"dotted capital I refused", "\u0130van@example.com", ""},
		{"full-width mapped", "\uff21\uff4c\uff49\uff43\uff45@example.com", "alice@example.com"},
		{"space refused", "al ice", ""},
		{"no-break space refused", "al\u00a0ice", ""},
		{"zero-width joiner refused", "al\u200dice", ""},
		{"control refused", "al\x7fice", ""},
		{"empty refused", "", ""},
		{"invalid UTF-8 refused", "al\xffice", ""},
		{"Greek kept", "\u03b1\u03b2\u03b3@example.com", "\u03b1\u03b2\u03b3@example.com"},
		{"Cyrillic lower-cased", "\u0418\u0432\u0430\u043d", "\u0438\u0432\u0430\u043d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := canonicalLogin(tc.login)
			if tc.want == "" {
				assert.False(t, ok, "accepted as %q", got)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tc.want, got)
			again, ok := canonicalLogin(got)
			assert.True(t, ok)
			assert.Equal(t, got, again, "canonical forms are stable")
		})
	}
}

// TestMemoryStoreOneAccountPerVisibleLogin: the NFC and NFD spellings of
// one address cannot make two accounts, a look-alike spelling finds no
// account, and the throttle key of every spelling the store matches is
// one.
func TestMemoryStoreOneAccountPerVisibleLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryUserStore[testUser](cheapHasher)
	require.NoError(t, s.Put(ctx, "caf\u00e9@example.com", Account[testUser]{ID: "1", PasswordHash: "x"}))
	err := s.Put(ctx, "cafe\u0301@example.com", Account[testUser]{ID: "2", PasswordHash: "x"})
	assert.ErrorIs(t, err, ErrBadRequest, "the NFD spelling is refused")
	err = s.Put(ctx, "CAF\u00c9@example.com", Account[testUser]{ID: "3", PasswordHash: "x"})
	assert.ErrorIs(t, err, ErrAccountExists, "another case is the same login")

	require.NoError(t, s.Put(ctx, "kate@example.com", Account[testUser]{ID: "4", PasswordHash: "x"}))
	for _, lookalike := range []string{"\u212Aate@example.com", "cafe\u0301@example.com"} {
		_, err := s.UserByLogin(ctx, lookalike)
		assert.ErrorIs(t, err, ErrUserNotFound, "%q", lookalike)
	}
	err = s.Put(ctx, "\u212Aate@example.com", Account[testUser]{ID: "5", PasswordHash: "x"})
	assert.True(t, errors.Is(err, ErrBadRequest), "a Kelvin-sign spelling cannot register: %v", err)
	assert.ErrorIs(t, s.SetLogin(ctx, "4", "\u212Aate@example.com"), ErrBadRequest)

	a, err := s.UserByLogin(ctx, "\uff2b\uff41\uff54\uff45@example.com") // full width
	require.NoError(t, err)
	assert.Equal(t, "4", a.ID)
	assert.Equal(t, s.LoginKey("KATE@example.com"), s.LoginKey("\uff2b\uff41\uff54\uff45@example.com"))
}

// TestLatin1BasicIsTheUTF8Login: Basic credentials that are not valid
// UTF-8 are read as ISO-8859-1, into the same login and password as the
// UTF-8 spelling, so the store, the throttle key and the credential cache
// see one login.
func TestLatin1BasicIsTheUTF8Login(t *testing.T) {
	t.Parallel()
	utf8Login, utf8PW, err := decodeBasic(base64.StdEncoding.EncodeToString([]byte("j\u00fcrgen@example.com:p\u00e4ssw\u00f6rd")))
	require.NoError(t, err)
	l1Login, l1PW, err := decodeBasic(base64.StdEncoding.EncodeToString([]byte("j\xfcrgen@example.com:p\xe4ssw\xf6rd")))
	require.NoError(t, err)
	assert.Equal(t, utf8Login, l1Login)
	assert.Equal(t, utf8PW, l1PW)
	s := NewMemoryUserStore[testUser](cheapHasher)
	assert.Equal(t, s.LoginKey(utf8Login), s.LoginKey(l1Login))
	_, _, err = decodeBasic(base64.StdEncoding.EncodeToString([]byte("j\x85rgen:pw")))
	assert.ErrorIs(t, err, errMalformedCredentials, "a C1 control")
}
