// Package auth issues and verifies tokens, hashes passwords, and runs the
// login, refresh and logout flows behind Ironclad's GraphQL API.
//
// Access tokens are short-lived HMAC-signed JWTs (tokens.go); refresh tokens
// are opaque random strings stored only as their SHA-256 hash. Passwords are
// hashed with argon2id in PHC format inside a bounded pool (password.go), so a
// flood of logins cannot exhaust memory. The HTTP middleware puts the verified
// viewer in the request context, read back through accessor functions.
// In cookie mode (cookies.go) refresh tokens travel in an HttpOnly cookie,
// applied to the response through a per-request jar.
package auth
