// Package ptytest puts a command's terminal prompts on a real
// pseudo-terminal, for the commands' tests. It works on Linux only; other
// systems have no package here, and their tests skip.
package ptytest
