// Package secret reads a secret (a password, a token) for the commands of
// this module: from a terminal with echo off, or from a pipe or a file.
// It also holds the rule for which passwords could ever log in.
package secret

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"unicode/utf8"

	"golang.org/x/term"
)

// MaxInput caps what is read from a pipe or a file.
const MaxInput = 64 << 10

// MaxPasswordLen is the authenticator's default limit on a password, in
// bytes: a longer password could never log in.
const MaxPasswordLen = 1024

// inputError is input the user got wrong, as opposed to input that could
// not be read.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

// Errors in what the user gave. BadInput reports any of them.
var (
	// ErrMismatch is a confirming entry that differs from the first.
	ErrMismatch error = &inputError{"the entries do not match"}
	// ErrNoInput is an end of input before anything was given.
	ErrNoInput error = &inputError{"no input"}
	// ErrTooLong is piped input longer than MaxInput.
	ErrTooLong error = &inputError{fmt.Sprintf("standard input is longer than %d bytes", MaxInput)}
	// ErrLines is piped input of more than one line, where one is asked.
	ErrLines error = &inputError{"standard input has more than one line"}
	// ErrRefused marks a password CheckPassword refuses; the error's text
	// is only the reason.
	ErrRefused error = &inputError{"password refused"}
)

// BadInput reports whether err is the user's input at fault (the errors
// above, or a refused password) rather than a failure to read it.
func BadInput(err error) bool {
	var ie *inputError
	return errors.As(err, &ie)
}

// Terminal returns in as a file if it is a terminal.
func Terminal(in io.Reader) (*os.File, bool) {
	f, ok := in.(*os.File)
	return f, ok && term.IsTerminal(int(f.Fd()))
}

// Prompt asks for a secret on terminal f, once for each prompt, which it
// prints on w, and reads each answer with echo off. Every answer must
// equal the first (ErrMismatch). An end of input on an empty line is
// ErrNoInput.
//
// Echo is off before a prompt shows, so nothing typed after it can be
// echoed. Ctrl-C, an interrupt or SIGTERM while echo is off puts the
// terminal back, then ends the process with status 130, as the signal
// would have. Backspace, Delete and Ctrl-U edit the line.
func Prompt(f *os.File, w io.Writer, prompts ...string) (string, error) {
	var first string
	for i, prompt := range prompts {
		s, err := readQuietLine(f, w, prompt)
		fmt.Fprintln(w) // the user's Enter was not echoed
		if err != nil {
			return "", err
		}
		if i == 0 {
			first = s
		} else if s != first {
			return "", ErrMismatch
		}
	}
	return first, nil
}

// readQuietLine turns echo off, prints prompt and reads a line from
// terminal f.
//
// x/term turns echo off only inside term.ReadPassword, after any prompt, and
// has no call that turns off echo alone; so the terminal goes to raw mode
// (echo off, nothing interpreted), and readRawLine does the little line
// editing a password needs.
func readQuietLine(f *os.File, w io.Writer, prompt string) (string, error) {
	fd := int(f.Fd())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM) // a hangup leaves no terminal to restore
	state, err := term.MakeRaw(fd)
	if err != nil {
		signal.Stop(sigs)
		return "", fmt.Errorf("turning off terminal echo: %w", err)
	}
	interrupted := func() {
		_ = term.Restore(fd, state)
		fmt.Fprintln(w)
		os.Exit(130) // as the interrupt would have
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			interrupted()
		case <-done:
		}
	}()
	fmt.Fprint(w, prompt)
	line, err := readRawLine(f)
	if errors.Is(err, errCtrlC) {
		interrupted()
	}
	rerr := term.Restore(fd, state)
	signal.Stop(sigs) // echo is back: a signal from now on may end the process as usual
	close(done)
	if err == nil && rerr != nil {
		err = fmt.Errorf("restoring the terminal: %w", rerr)
	}
	return line, err
}

// errCtrlC is Ctrl-C, which in raw mode is a key rather than a signal.
var errCtrlC = errors.New("interrupted")

// Keys that readRawLine handles.
const (
	ctrlC     = 0x03
	ctrlD     = 0x04
	backspace = 0x08
	ctrlU     = 0x15
	del       = 0x7f
)

// readRawLine reads a line from a terminal in raw mode, up to Enter (\r
// or \n). Backspace and Delete erase a character, Ctrl-U the line, and
// Ctrl-D on an empty line is ErrNoInput; other control characters are
// kept (CheckPassword refuses them). Ctrl-C is errCtrlC.
func readRawLine(r io.Reader) (string, error) {
	var line []byte
	var b [1]byte
	for len(line) <= MaxInput {
		n, err := r.Read(b[:])
		if n == 0 {
			switch {
			case err == nil:
				continue
			case errors.Is(err, io.EOF) && len(line) == 0:
				return "", ErrNoInput
			case errors.Is(err, io.EOF):
				return string(line), nil
			}
			return "", fmt.Errorf("reading the terminal: %w", err)
		}
		switch c := b[0]; c {
		case '\r', '\n':
			return string(line), nil
		case ctrlC:
			return "", errCtrlC
		case ctrlD:
			if len(line) == 0 {
				return "", ErrNoInput
			}
		case ctrlU:
			line = line[:0]
		case backspace, del:
			_, size := utf8.DecodeLastRune(line)
			line = line[:len(line)-size]
		default:
			line = append(line, c)
		}
	}
	return "", ErrTooLong
}

// ReadAll reads all of r as one line (ErrLines otherwise) and drops its
// line ending, \n or \r\n. Empty input is an empty secret.
func ReadAll(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxInput+1))
	if err != nil {
		return "", fmt.Errorf("reading standard input: %w", err)
	}
	if len(b) > MaxInput {
		return "", ErrTooLong
	}
	s := strings.TrimSuffix(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	if strings.Contains(s, "\n") {
		return "", ErrLines
	}
	return s, nil
}

// ReadLine returns the first line of r without its line ending, \n or
// \r\n; the rest of r is not read. Empty input is ErrNoInput.
func ReadLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, MaxInput)).ReadString('\n')
	switch {
	case errors.Is(err, io.EOF) && line == "":
		return "", ErrNoInput
	case err != nil && !errors.Is(err, io.EOF):
		return "", fmt.Errorf("reading standard input: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

// refusal is a refused password: its text is the reason, and it is
// ErrRefused.
type refusal struct{ reason string }

func (r refusal) Error() string { return r.reason }
func (r refusal) Unwrap() error { return ErrRefused }

// CheckPassword refuses passwords that HTTP Basic could never carry to
// the authenticator (what its parser and default MaxPasswordLen refuse),
// so no one stores a hash that cannot log in. A colon is fine: only the
// login ends at the first one. A refusal is ErrRefused.
func CheckPassword(pw string) error {
	switch {
	case pw == "":
		return refusal{"empty password"}
	case len(pw) > MaxPasswordLen:
		return refusal{fmt.Sprintf("password is %d bytes; the authenticator takes at most %d", len(pw), MaxPasswordLen)}
	case !utf8.ValidString(pw):
		return refusal{"password is not valid UTF-8"}
	}
	for i := 0; i < len(pw); i++ {
		if c := pw[i]; c < 0x20 || c == 0x7f {
			return refusal{"password has a control character, which HTTP Basic cannot carry"}
		}
	}
	return nil
}
