//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd || aix || solaris

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// quitSignals end the process while echo is off; echo is restored first.
var quitSignals = []os.Signal{os.Interrupt, unix.SIGTERM, unix.SIGHUP}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), ioctlGetTermios)
	return err == nil
}

// disableEcho turns off the echo of terminal f, keeping line editing and
// signals, and returns the function that puts the old state back.
func disableEcho(f *os.File) (restore func(), err error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &quiet); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, ioctlSetTermios, old) }, nil
}
