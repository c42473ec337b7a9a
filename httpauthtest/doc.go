// Package httpauthtest helps test code that uses httpauth.
//
// For hosts testing their own handlers behind the middleware, Authorize
// makes a request that the middleware accepts as a given account, and
// [FastHasher] is a cheap [httpauth.PasswordHasher] for the store and the
// authenticator, so that no test pays for argon2id. Both are for tests
// only.
//
// For implementers of the store interfaces, TestUserStore,
// TestLifecycleStore, TestRevocationStore, TestLimiter and TestKeyStore
// are conformance suites. Options (Skip, DerivedRoles, IgnoresContext)
// adapt them to what a host's store legitimately does differently.
// RequireEnv gates tests that need real servers.
package httpauthtest
