package ptytest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// deadline bounds every wait: generous, so that only a hang fails it on a
// loaded machine.
const deadline = 30 * time.Second

// PTY is a new pseudo-terminal. A command gets TTY as its standard input
// (and usually its standard error); what it shows there is recorded and
// read back with Screen.
type PTY struct {
	TTY    *os.File // the terminal end, for the command
	master *os.File // the end a terminal emulator would hold

	mu     sync.Mutex
	screen bytes.Buffer
}

// Open opens a pseudo-terminal, closed when t ends. It skips t where
// there are none.
func Open(t *testing.T) *PTY {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(ptm.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		ptm.Close()
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		ptm.Close()
		t.Fatalf("ptsname: %v", err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ptm.Close()
		t.Fatalf("open pts: %v", err)
	}
	p := &PTY{TTY: pts, master: ptm}
	go func() { _, _ = io.Copy(p, ptm) }() // ends when ptm is closed
	t.Cleanup(func() { ptm.Close(); pts.Close() })
	return p
}

// Write records what the terminal shows.
func (p *PTY) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.screen.Write(b)
}

// Screen returns everything the terminal has shown so far.
func (p *PTY) Screen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.screen.String()
}

// WaitFor waits until the screen shows want n times.
func (p *PTY) WaitFor(t *testing.T, want string, n int) {
	t.Helper()
	end := time.Now().Add(deadline)
	for strings.Count(p.Screen(), want) < n {
		if time.Now().After(end) {
			t.Fatalf("the terminal never showed %q %d times; it shows %q", want, n, p.Screen())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Echo reports whether the terminal echoes what is typed.
func (p *PTY) Echo(t *testing.T) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(p.TTY.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ECHO != 0
}

// WaitEchoOff waits until the terminal's echo is off. A command that
// never turns it off fails here.
func (p *PTY) WaitEchoOff(t *testing.T) {
	t.Helper()
	end := time.Now().Add(deadline)
	for p.Echo(t) {
		if time.Now().After(end) {
			t.Fatal("the terminal's echo never went off")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Answer waits until prompt has shown, checks that echo is already off
// (the commands turn it off before the prompt shows, so that nothing
// typed after it can be echoed), then types line and Enter.
func (p *PTY) Answer(t *testing.T, prompt, line string) {
	t.Helper()
	p.WaitFor(t, prompt, 1)
	if p.Echo(t) {
		t.Errorf("echo is on while %q shows", prompt)
		p.WaitEchoOff(t)
	}
	p.Type(t, line+"\n")
}

// Type types s, as is, on the terminal.
func (p *PTY) Type(t *testing.T, s string) {
	t.Helper()
	if _, err := p.master.WriteString(s); err != nil {
		t.Fatalf("typing: %v", err)
	}
}

// Receive waits for a value on ch: a command run in the test's own
// process ends by sending its result.
func Receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(deadline):
		t.Fatal("the command never returned")
		panic("unreachable")
	}
}
