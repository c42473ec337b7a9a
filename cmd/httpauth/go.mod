module github.com/gohttpauth/httpauth/cmd/httpauth

go 1.26.0

require (
	github.com/gohttpauth/httpauth v0.0.0-00010101000000-000000000000
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
)

require golang.org/x/crypto v0.59.0 // indirect
