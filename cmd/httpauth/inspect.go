package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gohttpauth/httpauth"
)

func runInspectToken(args []string, e *env) error {
	fs := newFlagSet("inspect-token", "[-kid ID] [TOKEN | -]",
		"Verifies TOKEN (or the one line of standard input, read without echo\n"+
			"from a terminal: it stays out of the shell history) with the hex key in\n"+
			"HTTPAUTH_SECRET and prints its claims: subject, token ID, issue time,\n"+
			"expiry and key ID. A token that does not verify is reported as invalid\n"+
			"or expired, and nothing in it is printed.\n\n"+
			"Only the signature and the expiry are checked: revocation and the\n"+
			"account's state live on the server.", e)
	kid := fs.String("kid", "k1", "`ID` of the key in HTTPAUTH_SECRET (the SigningKey.ID the server uses)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("takes one token, got %d arguments", fs.NArg())
	}
	key, err := keyFromEnv(*kid, e.getenv)
	if err != nil {
		return err
	}
	signer, err := httpauth.NewHMACSigner(key)
	if err != nil {
		return usageError{strings.TrimPrefix(err.Error(), "httpauth: ")}
	}

	token := fs.Arg(0)
	if token == "" || token == "-" {
		if token, err = readSecret(e, "Token: "); err != nil {
			return err
		}
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return usagef("empty token")
	}

	c, err := signer.Verify(context.Background(), token)
	switch {
	case errors.Is(err, httpauth.ErrTokenExpired):
		return errors.New("token expired (its signature is valid)")
	case errors.Is(err, httpauth.ErrTokenInvalid):
		msg := strings.TrimPrefix(err.Error(), "httpauth: ")
		if strings.Contains(msg, "signature") || strings.Contains(msg, "unknown key") {
			msg += " (wrong HTTPAUTH_SECRET or -kid?)"
		}
		return errors.New(msg)
	case err != nil:
		return err
	}

	tw := tabwriter.NewWriter(e.stdout, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "subject:\t%s\n", c.Subject)
	fmt.Fprintf(tw, "token ID:\t%x\n", c.ID)
	fmt.Fprintf(tw, "issued at:\t%s\n", c.IssuedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "expires at:\t%s (in %s)\n", c.ExpiresAt.UTC().Format(time.RFC3339), time.Until(c.ExpiresAt).Round(time.Second))
	fmt.Fprintf(tw, "key ID:\t%s\n", c.KeyID)
	return tw.Flush()
}

// keyFromEnv reads the key in HTTPAUTH_SECRET as httpauth.KeyFromHex
// does for the servers, refusing the same short or made-up keys.
func keyFromEnv(kid string, getenv func(string) string) (httpauth.SigningKey, error) {
	v := getenv("HTTPAUTH_SECRET")
	if v == "" {
		return httpauth.SigningKey{}, usagef(`HTTPAUTH_SECRET is not set (make one with "httpauth keygen")`)
	}
	key, err := httpauth.KeyFromHex(kid, v)
	if err == nil {
		return key, nil
	}
	msg := strings.TrimPrefix(err.Error(), "httpauth: ")
	if _, err := httpauth.KeyFromHex("k1", v); err == nil {
		return httpauth.SigningKey{}, usagef("-kid %q: %s", kid, msg) // the secret is fine
	}
	return httpauth.SigningKey{}, usagef("HTTPAUTH_SECRET: %s", msg)
}
