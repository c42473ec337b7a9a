package secret

import (
	"strings"
	"testing"

	"github.com/gohttpauth/httpauth/cmd/internal/ptytest"
)

// TestPrompt types on a real pseudo-terminal: echo is off before each
// prompt shows and back on afterwards, nothing typed is echoed, and the
// few editing keys work.
func TestPrompt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		typed []string // what is typed after each prompt, Enter included
		want  string
		err   error
		asked int // prompts shown
	}{
		{"one prompt", []string{"typed-1\n"}, "typed-1", nil, 1},
		{"entries match", []string{"typed-1\n", "typed-1\n"}, "typed-1", nil, 2},
		{"carriage return is Enter", []string{"typed-1\r", "typed-1\r"}, "typed-1", nil, 2},
		{"entries differ", []string{"typed-1\n", "typed-2\n"}, "", ErrMismatch, 2},
		{"backspace and delete", []string{"typed-12\x7f\n", "typed-ü\b1\n"}, "typed-1", nil, 2},
		{"ctrl-u", []string{"wrong\x15typed-1\n", "typed-1\n"}, "typed-1", nil, 2},
		{"control character kept", []string{"typed\x01x\n", "typed\x01x\n"}, "typed\x01x", nil, 2},
		{"ctrl-d on an empty line", []string{"\x04"}, "", ErrNoInput, 1},
		{"ctrl-d inside a line is ignored", []string{"typed\x04-1\n"}, "typed-1", nil, 1},
		{"second entry empty", []string{"typed-1\n", "\x04"}, "", ErrNoInput, 2},
	}
	prompts := []string{"Secret: ", "Repeat secret: "}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pty := ptytest.Open(t)
			type result struct {
				s   string
				err error
			}
			done := make(chan result, 1)
			ask := prompts[:len(tt.typed)]
			go func() {
				s, err := Prompt(pty.TTY, pty.TTY, ask...)
				done <- result{s, err}
			}()
			for i, typed := range tt.typed {
				line, ok := strings.CutSuffix(typed, "\n")
				if !ok {
					// Typed as is, with its own Enter (or none).
					pty.WaitFor(t, ask[i], 1)
					if pty.Echo(t) {
						t.Errorf("echo is on while %q shows", ask[i])
					}
					pty.Type(t, typed)
					continue
				}
				pty.Answer(t, ask[i], line)
			}
			r := ptytest.Receive(t, done)
			if r.err != tt.err || r.s != tt.want {
				t.Errorf("Prompt = %q, %v; want %q, %v", r.s, r.err, tt.want, tt.err)
			}
			if !pty.Echo(t) {
				t.Error("echo is still off after Prompt returned")
			}
			if strings.Contains(pty.Screen(), "typed") || strings.Contains(pty.Screen(), "wrong") {
				t.Errorf("the terminal echoed what was typed: %q", pty.Screen())
			}
			for i, p := range prompts {
				if n, want := strings.Count(pty.Screen(), p), min(1, max(0, tt.asked-i)); n != want {
					t.Errorf("%q shown %d times, want %d", p, n, want)
				}
			}
		})
	}
}
