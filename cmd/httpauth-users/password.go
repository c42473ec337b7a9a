package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/gohttpauth/httpauth/cmd/internal/secret"
)

// errBadPassword marks a password refused before it is stored.
var errBadPassword = errors.New("password refused")

// readPassword reads a new password. From a terminal it asks twice on
// stderr with echo off; otherwise it takes the first line of stdin
// without its line ending. Passwords that could never log in are refused.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	var pw string
	var err error
	f, typed := secret.Terminal(stdin)
	if typed {
		pw, err = secret.Prompt(f, stderr, "Password: ", "Repeat password: ")
	} else {
		pw, err = secret.ReadLine(stdin)
	}
	switch {
	case errors.Is(err, secret.ErrNoInput) && typed:
		return "", errors.New("no password typed")
	case errors.Is(err, secret.ErrNoInput):
		return "", errors.New("no password on standard input")
	case errors.Is(err, secret.ErrMismatch):
		return "", fmt.Errorf("%w: %v", errBadPassword, err)
	case err != nil:
		return "", err
	}
	if err := secret.CheckPassword(pw); err != nil {
		return "", fmt.Errorf("%w: %v", errBadPassword, err)
	}
	return pw, nil
}
