// Package httpauthtest holds conformance suites that any implementation of
// the httpauth store interfaces should pass, plus helpers for tests that need
// real servers.
package httpauthtest
