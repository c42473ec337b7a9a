// Package bench compares httpauth with its Go peers on one machine, in one
// `go test -bench` run. It is a module of its own, so that the peers'
// dependencies (golang-jwt, jwtauth and jwx, echo, go-http-auth,
// goji/httpauth) never reach the httpauth module.
//
// Every case serves GET /api/v1/me through httptest.NewRecorder, and every
// handler reads the user the middleware authenticated (from the request
// context, or from the echo context for echo) and writes its ID:
//
//   - BenchmarkToken and BenchmarkTokenParallel: a signed or opaque token
//     per request. httpauth (Bearer, and the token as the Basic username;
//     a repeated token, and fresh ones the token cache does not hold),
//     a hand-written golang-jwt/jwt/v5 middleware, go-chi/jwtauth/v5, and
//     echo v4's key-auth middleware beside echo with no authentication.
//   - BenchmarkBasic: a login and password per request, all peers checking
//     the same bcrypt hash (cost 10, and cost 4 to show their overhead);
//     httpauth cold (every request misses the credential cache and pays
//     the hash), cached (a cache hit), and with its default argon2id hash.
//   - BenchmarkFloor: what any signed-token middleware pays on net/http
//     (r.WithContext, plus one HMAC-SHA256), a lower bound rather than a
//     peer.
//
// The tests in this package check, without timing anything, that each
// setup answers 200 with the right user and refuses bad credentials with a
// 401, so that no case is fast because it checks nothing. BENCHMARKS.md at
// the repository root has the results and the commands that made them;
// cmd/load is an HTTP load generator for the example server, and load.sh
// runs it against a freshly built examples/api. cmd/costcurves measures how
// the costs grow with accounts, revocations and locks on PostgreSQL and
// Redis (issue 19); cost-curves.sh runs it and plot_costs.py draws the
// charts.
//
// The peers are this module's own requirements: no library module requires
// them, so they never reach a library's consumers.
package bench
