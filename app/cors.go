package app

import (
	"net/http"

	"github.com/rs/cors"

	"github.com/ironclad-auth/ironclad/auth"
)

// corsMaxAge is how long, in seconds, a browser may cache a preflight
// answer: one preflight per origin every ten minutes instead of one per
// request. Policy changes reach browsers within that time.
const corsMaxAge = 600

// withCORS lets the listed origins call next from the browser, with
// credentials (the refresh cookie, the Authorization header). With no
// origins it returns next unchanged: same-origin only, the browser default.
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	allowed := append([]string{"Authorization", "Content-Type", "Accept"}, auth.CSRFHeaders...)
	return cors.New(cors.Options{
		AllowedOrigins:   origins, // exact matches; config refuses "*"
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   allowed,
		ExposedHeaders:   []string{"WWW-Authenticate", RequestIDHeader}, // the id a user can quote in a support request
		AllowCredentials: true,
		MaxAge:           corsMaxAge,
	}).Handler(next)
}
