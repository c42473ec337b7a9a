package sqlstore_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
)

const (
	cafeNFC = "caf\u00e9@example.com"  // é precomposed
	cafeNFD = "cafe\u0301@example.com" // e + combining acute
	kelvin  = "\u212Aate@example.com"  // KELVIN SIGN, not K
)

// TestCanonicalLogin checks the canonical form, RFC 8265's
// UsernameCaseMapped profile, and what it refuses.
func TestCanonicalLogin(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, want string // want "": refused
	}{
		{"alice@example.com", "alice@example.com"},
		{"Alice.Smith@Example.COM", "alice.smith@example.com"},
		{"a+b!#$%&'*/=?^_`{|}~@x", "a+b!#$%&'*/=?^_`{|}~@x"},
		{cafeNFC, cafeNFC},
		{cafeNFD, cafeNFC},
		{"CAF\u00c9@example.com", cafeNFC},
		{"CAFE\u0301@EXAMPLE.COM", cafeNFC},
		{"\uff41\uff4c\uff49\uff43\uff45\uff20example.com", "alice@example.com"}, // full-width
		{"\uff21\uff2c\uff29\uff23\uff25", "alice"},                              // full-width capitals
		{"\u65e5\u672c@example.jp", "\u65e5\u672c@example.jp"},
		{kelvin, ""},
		{"\u2126mega", ""}, // OHM SIGN
		{"\ufb01le@x", ""}, // ligature fi
		{"\u017fam@x", ""}, // long s
		{"", ""},
		{" alice", ""},
		{"alice ", ""},
		{"a b", ""},
		{"a\x01b", ""},
		{"a\x00b", ""},
		{"a\x7fb", ""},
		{"alice\xff", ""}, // invalid UTF-8
		{"x\u200d", ""},   // zero-width joiner
	} {
		t.Run(fmt.Sprintf("%+q", c.in), func(t *testing.T) {
			got, err := sqlstore.CanonicalLogin(c.in)
			if c.want == "" {
				assert.ErrorIs(t, err, sqlstore.ErrInvalidLogin)
				assert.Empty(t, got)
				assert.Empty(t, sqlstore.NormalizeLogin(c.in))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
			assert.Equal(t, c.want, sqlstore.NormalizeLogin(c.in))
		})
	}
}

// TestLoginSpellings checks that every spelling of one visible login is
// one account in the store, and that a spelling the profile refuses can
// be neither created nor found (never a store failure).
func TestLoginSpellings(t *testing.T) {
	t.Parallel()
	for _, sc := range storeConfigs {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := newStore(t, sc.open(t), sc.cfg)
			cafe, err := s.CreateUser(ctx, sqlstore.NewUser{Login: cafeNFC})
			require.NoError(t, err)
			kate, err := s.CreateUser(ctx, sqlstore.NewUser{Login: "kate@example.com"})
			require.NoError(t, err)
			alice, err := s.CreateUser(ctx, sqlstore.NewUser{Login: "\uff41\uff4c\uff49\uff43\uff45@example.com"})
			require.NoError(t, err)

			t.Run("create", func(t *testing.T) {
				for _, c := range []struct {
					login   string
					wantErr error
				}{
					{cafeNFD, httpauth.ErrAccountExists},
					{"CAF\u00c9@example.com", httpauth.ErrAccountExists},
					{"alice@example.com", httpauth.ErrAccountExists},
					{kelvin, sqlstore.ErrInvalidLogin},
					{"a\x01b@example.com", sqlstore.ErrInvalidLogin},
					{"a b@example.com", sqlstore.ErrInvalidLogin},
					{"", sqlstore.ErrInvalidLogin},
				} {
					t.Run(fmt.Sprintf("%+q", c.login), func(t *testing.T) {
						_, err := s.CreateUser(ctx, sqlstore.NewUser{Login: c.login})
						assert.ErrorIs(t, err, c.wantErr)
					})
				}
			})
			t.Run("lookup", func(t *testing.T) {
				for _, c := range []struct {
					login  string
					wantID string // "": not found
				}{
					{cafeNFC, cafe},
					{cafeNFD, cafe},
					{"CAFE\u0301@Example.com", cafe},
					{"kate@example.com", kate},
					{"KATE@example.com", kate},
					{kelvin, ""},
					{"alice@example.com", alice},
					{"\uff21\uff2c\uff29\uff23\uff25\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d", alice},
					{"a\x01b@example.com", ""},
					{"alice@example.com\xff", ""},
				} {
					t.Run(fmt.Sprintf("%+q", c.login), func(t *testing.T) {
						for range 2 { // the second may come from the cache
							a, err := s.UserByLogin(ctx, c.login)
							if c.wantID == "" {
								assert.ErrorIs(t, err, httpauth.ErrUserNotFound)
								assert.Nil(t, a)
								continue
							}
							require.NoError(t, err)
							assert.Equal(t, c.wantID, a.ID)
						}
					})
				}
			})
			t.Run("stored canonical", func(t *testing.T) {
				a, err := s.UserByID(ctx, alice)
				require.NoError(t, err)
				assert.Equal(t, "alice@example.com", a.User.Login)
				a, err = s.UserByID(ctx, cafe)
				require.NoError(t, err)
				assert.Equal(t, cafeNFC, a.User.Login)
			})
			t.Run("SetLogin", func(t *testing.T) {
				assert.ErrorIs(t, s.SetLogin(ctx, kate, kelvin), sqlstore.ErrInvalidLogin)
				assert.ErrorIs(t, s.SetLogin(ctx, kate, "a\x01b"), sqlstore.ErrInvalidLogin)
				assert.ErrorIs(t, s.SetLogin(ctx, kate, cafeNFD), httpauth.ErrAccountExists)
				require.NoError(t, s.SetLogin(ctx, kate, "KATE@\uff45xample.com"))
				a, err := s.UserByLogin(ctx, "kate@example.com")
				require.NoError(t, err)
				assert.Equal(t, kate, a.ID)
			})
			t.Run("LoginKey", func(t *testing.T) {
				for _, c := range []struct{ a, b string }{
					{cafeNFC, cafeNFD},
					{"Alice@example.com", "\uff41lice@example.com"},
				} {
					assert.Equal(t, s.LoginKey(c.a), s.LoginKey(c.b), "%+q and %+q", c.a, c.b)
				}
				assert.Equal(t, cafeNFC, s.LoginKey(cafeNFD))
				assert.NotEqual(t, s.LoginKey("kate@example.com"), s.LoginKey(kelvin), "a refused spelling has a key of its own")
				assert.NotEqual(t, s.LoginKey("a b"), s.LoginKey("a\tb"))
			})
		})
	}
}
