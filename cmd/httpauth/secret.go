package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// maxInput caps what is read from standard input.
const maxInput = 64 << 10

// readSecret reads one secret. From a terminal it prints each prompt to
// stderr and reads a line with echo off, and every answer must be the
// same (a second prompt confirms the first). From a pipe or file it reads
// the whole input, which must be one line; the line ending is dropped.
func readSecret(e *env, prompts ...string) (string, error) {
	fd := int(e.stdin.Fd())
	if !term.IsTerminal(fd) {
		return readPiped(e.stdin)
	}
	var first string
	for i, prompt := range prompts {
		s, err := readQuietLine(fd, e.stderr, prompt)
		fmt.Fprintln(e.stderr) // the user's Enter was not echoed
		if err != nil {
			return "", err
		}
		if i == 0 {
			first = s
		} else if s != first {
			return "", usagef("the entries do not match")
		}
	}
	return first, nil
}

// readPiped reads all of r as one line.
func readPiped(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return "", fmt.Errorf("reading standard input: %w", err)
	}
	if len(b) > maxInput {
		return "", usagef("standard input is longer than %d bytes", maxInput)
	}
	s := strings.TrimSuffix(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	if strings.ContainsAny(s, "\n") {
		return "", usagef("standard input has more than one line")
	}
	return s, nil
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
		return "", usagef("no input")
	case err != nil:
		return "", fmt.Errorf("reading the terminal: %w", err)
	}
	return string(line), nil
}
