package app

import (
	"fmt"
	"net/url"
	"strings"
)

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
