package main

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

// maxPasswordLen is the default httpauth.Config.MaxPasswordLen: a longer
// password could never log in.
const maxPasswordLen = 1024

// errBadPassword marks a password refused before it is stored.
var errBadPassword = errors.New("password refused")

// readPassword reads a new password. From a terminal it asks twice on
// stderr with echo off; otherwise it takes the first line of stdin
// without its line ending. Passwords that could never log in are refused.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	var pw string
	var err error
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pw, err = readTyped(int(f.Fd()), stderr, "Password: ", "Repeat password: ")
	} else {
		pw, err = readLine(stdin)
	}
	if err != nil {
		return "", err
	}
	return pw, checkPassword(pw)
}

// readLine returns the first line of r without its line ending.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input")
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

// readTyped prints each prompt and reads a line from terminal fd with
// echo off; every answer must match the first.
func readTyped(fd int, stderr io.Writer, prompts ...string) (string, error) {
	var first string
	for i, prompt := range prompts {
		s, err := readQuietLine(fd, stderr, prompt)
		fmt.Fprintln(stderr) // the user's Enter was not echoed
		if err != nil {
			return "", err
		}
		if i == 0 {
			first = s
		} else if s != first {
			return "", fmt.Errorf("%w: the entries do not match", errBadPassword)
		}
	}
	return first, nil
}

// readQuietLine prints prompt and reads a line from terminal fd with
// echo off. An interrupt while echo is off puts the terminal back before
// it ends the process, as the interrupt would have.
func readQuietLine(fd int, stderr io.Writer, prompt string) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("reading the terminal state: %w", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM) // a hangup leaves no terminal to restore
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			_ = term.Restore(fd, state)
			fmt.Fprintln(stderr)
			os.Exit(130)
		case <-done:
		}
	}()
	fmt.Fprint(stderr, prompt)
	line, err := term.ReadPassword(fd)
	signal.Stop(sigs)
	close(done)
	switch {
	case errors.Is(err, io.EOF) && len(line) == 0:
		return "", errors.New("no password typed")
	case err != nil:
		return "", fmt.Errorf("reading the terminal: %w", err)
	}
	return string(line), nil
}

// checkPassword refuses passwords that HTTP Basic could never carry to
// the authenticator (what its parser and default MaxPasswordLen refuse),
// so no one stores a hash that cannot log in. A colon is fine: only the
// login ends at the first one.
func checkPassword(pw string) error {
	switch {
	case pw == "":
		return fmt.Errorf("%w: empty password", errBadPassword)
	case len(pw) > maxPasswordLen:
		return fmt.Errorf("%w: it is %d bytes; the authenticator takes at most %d", errBadPassword, len(pw), maxPasswordLen)
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w: it is not valid UTF-8", errBadPassword)
	}
	for i := 0; i < len(pw); i++ {
		if c := pw[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: it has a control character, which HTTP Basic cannot carry", errBadPassword)
		}
	}
	return nil
}
