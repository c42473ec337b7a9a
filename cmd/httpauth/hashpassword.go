package main

import (
	"context"
	"fmt"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/cmd/internal/secret"
)

func runHashPassword(args []string, e *env) error {
	fs := newFlagSet("hash-password", "< password-file",
		"Reads a password and prints its argon2id hash in PHC form\n"+
			"($argon2id$v=19$m=19456,t=2,p=1$…), ready for Account.PasswordHash.\n\n"+
			"From a terminal it asks twice without echoing. Piped, it reads one\n"+
			"line of standard input; the line ending is not part of the password.\n"+
			"Passwords are hashed exactly as given: no trimming, no case folding.", e)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("takes no arguments (a password on the command line would leak into the shell history); pipe it or type it")
	}
	pw, err := readSecret(e, "Password: ", "Repeat password: ")
	if err != nil {
		return err
	}
	if err := secret.CheckPassword(pw); err != nil {
		return usageError{err.Error()}
	}
	hash, err := httpauth.DefaultHasher().Hash(context.Background(), pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, hash)
	return err
}
