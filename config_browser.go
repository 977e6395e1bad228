package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// loadBrowserConfig reads the settings for browser clients: which origins
// may call the API cross-origin, and whether refresh tokens travel in a
// cookie. It is part of loadConfig and returns its errors for it to join.
func loadBrowserConfig(c *config, getenv func(string) string) []error {
	var errs []error
	origins, err := parseOrigins(getenv("CORS_ALLOWED_ORIGINS"))
	if err != nil {
		errs = append(errs, fmt.Errorf("CORS_ALLOWED_ORIGINS: %w", err))
	}
	c.CORSAllowedOrigins = origins

	if c.RefreshTokenCookie, err = parseBool(getenv("REFRESH_TOKEN_COOKIE"), false); err != nil {
		errs = append(errs, fmt.Errorf("REFRESH_TOKEN_COOKIE: %w", err))
	}
	if c.CookieSecure, err = parseBool(getenv("COOKIE_SECURE"), true); err != nil {
		errs = append(errs, fmt.Errorf("COOKIE_SECURE: %w", err))
	}
	if !c.CookieSecure && c.Production {
		// A refresh token sent over plain HTTP is a session handed to anyone
		// on the path; false exists for http://localhost only.
		errs = append(errs, errors.New("COOKIE_SECURE: production refuses false; it is meant for http://localhost"))
	}
	return errs
}

// parseOrigins parses a comma-separated list of origins such as
// "https://app.example.com,http://localhost:5173". Credentials are allowed
// for every listed origin, so each must be exact: no "*", no path.
func parseOrigins(v string) ([]string, error) {
	var origins []string
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "*") {
			return nil, fmt.Errorf("%q: wildcards are refused because credentials are allowed; list each origin", part)
		}
		u, err := url.Parse(part)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("%q is not an origin such as https://app.example.com or http://localhost:5173", part)
		}
		origins = append(origins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return origins, nil
}
