//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd || aix || solaris || windows)

package main

import (
	"errors"
	"os"
)

// quitSignals end the process while echo is off; echo is restored first.
var quitSignals = []os.Signal{os.Interrupt}

// isTerminal cannot tell on this platform, so input is always read as if
// it were piped.
func isTerminal(*os.File) bool { return false }

func disableEcho(*os.File) (func(), error) {
	return nil, errors.New("cannot turn off terminal echo on this platform")
}
