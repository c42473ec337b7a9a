package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

// maxInput caps what is read from standard input.
const maxInput = 64 << 10

// readSecret reads one secret. From a terminal it prints each prompt to
// stderr and reads a line with echo off, and every answer must be the
// same (a second prompt confirms the first). From a pipe or file it reads
// the whole input, which must be one line; the line ending is dropped.
func readSecret(e *env, prompts ...string) (string, error) {
	if !isTerminal(e.stdin) {
		return readPiped(e.stdin)
	}
	in := bufio.NewReader(e.stdin)
	var first string
	for i, prompt := range prompts {
		s, err := readQuietLine(e, in, prompt)
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

// readQuietLine turns echo off, prints prompt and reads a line from the
// terminal. Echo is off before the prompt shows, so nothing typed after it
// can be echoed; it comes back on when the line is read, and on an
// interrupt, which then ends the process as the interrupt would have.
func readQuietLine(e *env, in *bufio.Reader, prompt string) (string, error) {
	restore, err := disableEcho(e.stdin)
	if err != nil {
		return "", fmt.Errorf("turning off terminal echo: %w", err)
	}
	fmt.Fprint(e.stderr, prompt)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, quitSignals...)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			restore()
			fmt.Fprintln(e.stderr)
			os.Exit(130)
		case <-done:
		}
	}()
	line, err := in.ReadString('\n')
	signal.Stop(sigs)
	close(done)
	restore()
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", usagef("no input")
		}
		return "", fmt.Errorf("reading the terminal: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}
