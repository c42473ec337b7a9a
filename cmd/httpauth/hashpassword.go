package main

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/gohttpauth/httpauth"
)

// maxPasswordLen is the default httpauth.Config.MaxPasswordLen: a longer
// password could never log in.
const maxPasswordLen = 1024

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
	if err := checkPassword(pw); err != nil {
		return err
	}
	hash, err := httpauth.DefaultHasher().Hash(context.Background(), pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, hash)
	return err
}

// checkPassword refuses passwords that HTTP Basic could never carry to
// the authenticator, so no one stores a hash that cannot log in.
func checkPassword(pw string) error {
	switch {
	case pw == "":
		return usagef("empty password")
	case len(pw) > maxPasswordLen:
		return usagef("password is %d bytes; the authenticator takes at most %d", len(pw), maxPasswordLen)
	case !utf8.ValidString(pw):
		return usagef("password is not valid UTF-8")
	}
	for i := 0; i < len(pw); i++ {
		if c := pw[i]; c < 0x20 || c == 0x7f {
			return usagef("password has a control character, which HTTP Basic cannot carry")
		}
	}
	return nil
}
