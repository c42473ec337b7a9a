//go:build !linux

package main

import "testing"

func testTerminal(t *testing.T, _ string) {
	t.Skip("the pseudo-terminal test runs on Linux only")
}
