// Command gin protects gin-gonic/gin routes with httpauth through a small
// adapter, ginMiddleware, that runs any func(http.Handler) http.Handler
// as gin middleware. Handlers read the user with auth.User(c.Request).
//
//	go run ./gin [-addr 127.0.0.1:8080]
package main

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/examples/routers/internal/demo"
)

func main() { demo.Main(routes) }

// ginMiddleware adapts net/http middleware to gin. The rest of gin's chain
// runs as the middleware's next handler, on the request it passes on
// (which carries the user); if the middleware answers by itself (a 401 or
// 403), the chain is aborted.
func ginMiddleware(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		passed := false
		mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			passed = true
			c.Request = r
			c.Next()
		})).ServeHTTP(c.Writer, c.Request)
		if !passed {
			c.Abort()
		}
	}
}

func routes(auth *httpauth.Authenticator[demo.User]) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/healthz", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})

	api := r.Group("/api/v1", ginMiddleware(auth.Middleware))
	api.POST("/tokens/", gin.WrapH(auth.TokenHandler()))
	api.DELETE("/tokens/", gin.WrapH(auth.RevokeHandler()))
	api.GET("/me", func(c *gin.Context) {
		u, _ := auth.User(c.Request)
		c.JSON(http.StatusOK, u)
	})
	api.GET("/admin", ginMiddleware(auth.RequireAnyRole("admin")), func(c *gin.Context) {
		u, _ := auth.User(c.Request)
		c.JSON(http.StatusOK, gin.H{"admin": u.Name})
	})
	return r
}
