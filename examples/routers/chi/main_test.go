package main

import (
	"testing"

	"github.com/gohttpauth/httpauth/examples/routers/internal/demotest"
)

func TestRoutes(t *testing.T) {
	demotest.Run(t, routes(demotest.NewAuth(t)))
}
