// Command echo protects labstack/echo v4 routes with httpauth: the
// middleware goes on a group through echo.WrapMiddleware, the token
// handlers through echo.WrapHandler, and echo handlers read the user with
// auth.User(c.Request()).
//
//	go run ./echo [-addr 127.0.0.1:8080]
package main

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/examples/routers/internal/demo"
)

func main() { demo.Main(routes) }

func routes(auth *httpauth.Authenticator[demo.User]) http.Handler {
	e := echo.New()
	e.HideBanner = true
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})

	api := e.Group("/api/v1", echo.WrapMiddleware(auth.Middleware))
	api.POST("/tokens/", echo.WrapHandler(auth.TokenHandler()))
	api.DELETE("/tokens/", echo.WrapHandler(auth.RevokeHandler()))
	api.GET("/me", func(c echo.Context) error {
		u, _ := auth.User(c.Request()) // the request WrapMiddleware passed on
		return c.JSON(http.StatusOK, u)
	})
	api.GET("/admin", func(c echo.Context) error {
		u, _ := auth.User(c.Request())
		return c.JSON(http.StatusOK, map[string]string{"admin": u.Name})
	}, echo.WrapMiddleware(auth.RequireAnyRole("admin")))
	return e
}
