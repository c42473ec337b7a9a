package secret

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPiped: ReadLine takes the first line, ReadAll the whole input as
// one line; both drop the line ending and trim nothing else.
func TestPiped(t *testing.T) {
	t.Parallel()
	readers := map[string]func(io.Reader) (string, error){"ReadLine": ReadLine, "ReadAll": ReadAll}
	for _, c := range []struct {
		read, in, want string
		err            error
	}{
		{"ReadLine", "pw\n", "pw", nil},
		{"ReadLine", "pw\r\n", "pw", nil},
		{"ReadLine", "pw", "pw", nil},
		{"ReadLine", " pw \n", " pw ", nil},
		{"ReadLine", "first\nsecond\n", "first", nil},
		{"ReadLine", "\n", "", nil}, // CheckPassword refuses it
		{"ReadLine", "", "", ErrNoInput},

		{"ReadAll", "pw\n", "pw", nil},
		{"ReadAll", "pw\r\n", "pw", nil},
		{"ReadAll", "pw", "pw", nil},
		{"ReadAll", "  pw  \n", "  pw  ", nil},
		{"ReadAll", "", "", nil},
		{"ReadAll", "one\ntwo\n", "", ErrLines},
		{"ReadAll", strings.Repeat("a", MaxInput), strings.Repeat("a", MaxInput), nil},
		{"ReadAll", strings.Repeat("a", MaxInput+1), "", ErrTooLong},
	} {
		t.Run(fmt.Sprintf("%s %.20q", c.read, c.in), func(t *testing.T) {
			t.Parallel()
			got, err := readers[c.read](strings.NewReader(c.in))
			if c.err != nil {
				assert.ErrorIs(t, err, c.err)
				assert.True(t, BadInput(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

// TestCheckPassword: only passwords the Basic parser and the default
// MaxPasswordLen let through may be stored.
func TestCheckPassword(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, pw string
		ok       bool
	}{
		{"plain", "correct horse", true},
		{"colons", "a:b::c:", true},
		{"unicode", "pässwörd-✓", true},
		{"1024 bytes", strings.Repeat("p", 1024), true},
		{"1024 bytes of 2-byte runes", strings.Repeat("ä", 512), true},
		{"empty", "", false},
		{"1025 bytes", strings.Repeat("p", 1025), false},
		{"invalid UTF-8", "pw\xff", false},
		{"truncated rune", "pw\xc3", false},
		{"NUL", "pw\x00x", false},
		{"tab", "pw\tx", false},
		{"escape", "\x1b[Apw", false},
		{"DEL", "pw\x7f", false},
		{"carriage return inside", "p\rw", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := CheckPassword(c.pw)
			if c.ok {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrRefused)
			assert.True(t, BadInput(err))
			if len(c.pw) > 1 {
				assert.NotContains(t, err.Error(), c.pw[1:], "the reason repeats the password")
			}
		})
	}
}

// TestBadInput: a failure to read is not the user's input at fault.
func TestBadInput(t *testing.T) {
	t.Parallel()
	assert.False(t, BadInput(nil))
	assert.False(t, BadInput(errors.New("reading the terminal: EIO")))
	assert.True(t, BadInput(fmt.Errorf("wrapped: %w", ErrMismatch)))
}
