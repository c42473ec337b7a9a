package main

import "github.com/gohttpauth/httpauth/cmd/internal/secret"

// readSecret reads one secret. From a terminal it prints each prompt to
// stderr and reads a line with echo off, and every answer must be the
// same (a second prompt confirms the first). From a pipe or file it reads
// the whole input, which must be one line; the line ending is dropped.
// Input the user got wrong is a usage error.
func readSecret(e *env, prompts ...string) (string, error) {
	var s string
	var err error
	if f, ok := secret.Terminal(e.stdin); ok {
		s, err = secret.Prompt(f, e.stderr, prompts...)
	} else {
		s, err = secret.ReadAll(e.stdin)
	}
	if secret.BadInput(err) {
		return "", usageError{err.Error()}
	}
	return s, err
}
