// Command httpauth is the httpauth toolbox: it makes signing keys, hashes
// passwords for a user store, and checks tokens.
//
// Usage:
//
//	httpauth keygen
//	httpauth hash-password < password.txt
//	HTTPAUTH_SECRET=… httpauth inspect-token [-kid k1] [TOKEN | -] [< token.txt]
//
// keygen prints a random 32-byte key, hex-encoded, in the form
// HTTPAUTH_SECRET takes:
//
//	export HTTPAUTH_SECRET=$(httpauth keygen)
//
// hash-password reads a password, without echoing it when standard input
// is a terminal (it asks twice), or as the one line of piped standard
// input, and prints its argon2id hash in PHC form, ready for
// httpauth.Account.PasswordHash or a users table.
//
// inspect-token verifies a token's signature and expiry with the key in
// HTTPAUTH_SECRET and prints its claims. Without TOKEN (or with -) it
// reads the token from standard input, without echo from a terminal, so
// that it stays out of the shell history. It prints nothing from a token
// that does not verify. Revocation and the account's state live on the
// server, so a token it accepts may still be refused there.
//
// Exit status: 0 on success, 1 when a token does not verify or the work
// fails, 2 for bad usage or input.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
	}))
}

// env is what a command may touch of the process.
type env struct {
	stdin  *os.File
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// usageError is bad usage or input: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type command struct {
	name, summary string
	run           func(args []string, e *env) error
}

var commands = []command{
	{"keygen", "print a new random signing key for HTTPAUTH_SECRET", runKeygen},
	{"hash-password", "read a password and print its argon2id hash", runHashPassword},
	{"inspect-token", "verify a token with HTTPAUTH_SECRET and print its claims", runInspectToken},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: httpauth <command> [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "httpauth <command> -h" for a command's flags.`)
}

// run runs the command line args and returns the exit status.
func run(args []string, e *env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(e.stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], e)
		var ue usageError
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(e.stderr, "httpauth %s: %v\n", c.name, err)
			return exitUsage
		default:
			fmt.Fprintf(e.stderr, "httpauth %s: %v\n", c.name, err)
			return exitFail
		}
	}
	fmt.Fprintf(e.stderr, "httpauth: unknown command %q (run \"httpauth -h\" for the list)\n", args[0])
	return exitUsage
}

// flagSet is a command's flags with its help text.
type flagSet struct {
	*flag.FlagSet
	help func()
}

// newFlagSet returns a flag set whose -h prints the help to stdout and
// whose errors come back from parse as one-line usage errors.
func newFlagSet(name, synopsis, about string, e *env) flagSet {
	fs := flag.NewFlagSet("httpauth "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run reports parse errors in one line
	fs.Usage = func() {}     // and parse prints the help for -h
	help := func() {
		w := e.stdout
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", strings.TrimSpace("httpauth "+name+" "+synopsis), about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nFlags:")
			fs.SetOutput(w)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
	}
	return flagSet{fs, help}
}

// parse parses args, printing the help for -h (and returning
// flag.ErrHelp) and turning other errors into usage errors.
func (fs flagSet) parse(args []string) error {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.help()
		return err
	default:
		return usageError{err.Error()}
	}
}
