package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gohttpauth/httpauth"
)

func runInspectToken(args []string, e *env) error {
	fs := newFlagSet("inspect-token", "[-kid ID] [-purpose PURPOSE] [TOKEN | -]",
		"Verifies TOKEN (or the one line of standard input, read without echo\n"+
			"from a terminal: it stays out of the shell history) with the hex key in\n"+
			"HTTPAUTH_SECRET and prints its claims: subject, token ID, issue time,\n"+
			"expiry and key ID. A token that does not verify is reported as invalid\n"+
			"or expired, and nothing in it is printed.\n\n"+
			"Only the signature and the expiry are checked: revocation and the\n"+
			"account's state live on the server.", e)
	kid := fs.String("kid", "k1", "`ID` of the key in HTTPAUTH_SECRET (the SigningKey.ID the server uses)")
	purpose := fs.String("purpose", httpauth.DefaultPurpose, "`purpose` the token was minted for (HMACSignerConfig.Purpose)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("takes one token, got %d arguments", fs.NArg())
	}
	secret, err := secretFromEnv(e.getenv)
	if err != nil {
		return err
	}
	signer, err := httpauth.NewHMACSigner(httpauth.HMACSignerConfig{
		Keys:    []httpauth.SigningKey{{ID: *kid, Secret: secret}},
		Purpose: *purpose,
	})
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
			msg += " (wrong HTTPAUTH_SECRET, -kid or -purpose?)"
		}
		return errors.New(msg)
	case err != nil:
		return err
	}

	tw := tabwriter.NewWriter(e.stdout, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "subject:\t%s\n", c.Subject)
	fmt.Fprintf(tw, "token ID:\t%s\n", c.ID)
	fmt.Fprintf(tw, "issued at:\t%s\n", c.IssuedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "expires at:\t%s (in %s)\n", c.ExpiresAt.UTC().Format(time.RFC3339), time.Until(c.ExpiresAt).Round(time.Second))
	fmt.Fprintf(tw, "key ID:\t%s\n", c.KeyID)
	fmt.Fprintf(tw, "purpose:\t%s\n", *purpose)
	return tw.Flush()
}

// secretFromEnv decodes HTTPAUTH_SECRET the way the example server does.
func secretFromEnv(getenv func(string) string) ([]byte, error) {
	v := getenv("HTTPAUTH_SECRET")
	if v == "" {
		return nil, usagef(`HTTPAUTH_SECRET is not set (make one with "httpauth keygen")`)
	}
	key, err := hex.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return nil, usagef("HTTPAUTH_SECRET is not valid hex")
	}
	if len(key) < httpauth.MinKeyLen {
		return nil, usagef("HTTPAUTH_SECRET is %d bytes; at least %d are required", len(key), httpauth.MinKeyLen)
	}
	return key, nil
}
