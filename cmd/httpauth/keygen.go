package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// keyLen is the size of a generated signing key: 256 bits, the size of
// the HMAC-SHA256 output and the least httpauth.KeyFromHex accepts.
const keyLen = 32

func runKeygen(args []string, e *env) error {
	fs := newFlagSet("keygen", "",
		"Prints a new random 32-byte signing key, hex-encoded, in the form\n"+
			"HTTPAUTH_SECRET takes:\n\n"+
			"    export HTTPAUTH_SECRET=$(httpauth keygen)", e)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("takes no arguments, got %q", fs.Arg(0))
	}
	key := make([]byte, keyLen)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	_, err := fmt.Fprintln(e.stdout, hex.EncodeToString(key))
	return err
}
