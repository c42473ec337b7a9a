package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
)

// TestDemoUsersOnlyWhenAsked: with -db the demo users (whose passwords
// the README publishes) are created only with -demo-users; in memory they
// are always there.
func TestDemoUsersOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"memory", nil, true},
		{"memory, -demo-users", []string{"-demo-users"}, true},
		{"-db", []string{"-db", "sqlite:DB", "-migrate"}, false},
		{"-db -demo-users", []string{"-db", "sqlite:DB", "-migrate", "-demo-users"}, true},
		{"-db -demo-users=false", []string{"-db", "sqlite:DB", "-migrate", "-demo-users=false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "users.db")
			args := append([]string(nil), tt.args...)
			for i, a := range args {
				if a == "sqlite:DB" {
					args[i] = "sqlite:" + path
				}
			}
			o, _, err := parseOptions(args, env(testSecret), io.Discard)
			require.NoError(t, err)
			st, err := openStores(context.Background(), o, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			for _, d := range demoUsers {
				_, err := st.users.UserByLogin(context.Background(), d.email)
				if tt.want {
					assert.NoError(t, err, d.email)
				} else {
					assert.True(t, errors.Is(err, httpauth.ErrUserNotFound), "%s exists (err %v)", d.email, err)
				}
			}
		})
	}
}
