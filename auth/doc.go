// Package auth issues and verifies tokens, hashes passwords, and runs the
// flows behind Ironclad's GraphQL API. One file per concern:
//
//   - service.go: Service, its options, and Grant (a token pair);
//   - authenticate.go: the middleware and the authentication of one bearer
//     token (a JWT access token, or a personal access token);
//   - credentials.go: login and password change, the flows that check a
//     password; refresh.go and grace.go: refresh-token rotation;
//   - sessions.go: starting, listing and ending sessions; verify_token.go;
//   - accounts.go: Accounts (create, register, profile, role, active);
//   - personal_tokens.go: PersonalTokens (create, list, revoke, authenticate);
//   - tokens.go and token_cache.go: JWT access tokens and the cache of
//     verified ones; password.go: argon2id in a bounded pool; ratelimit.go:
//     the login limiter; clientip.go; cookies.go; context.go: the Viewer;
//   - observer.go: the Observer told each flow's outcome (metrics).
//
// Access tokens are short-lived HMAC-signed JWTs; refresh tokens and personal
// access tokens are opaque random strings stored only as their SHA-256 hash.
// Every method acting for a caller reads who is asking from the context
// (ViewerFrom) and where from (ClientFrom), as the middleware put them there.
package auth
