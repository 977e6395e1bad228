package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheckFlags is `ironclad healthcheck [--timeout D]`: one GET of
// /readyz on the ADDR this configuration serves, for a container's
// HEALTHCHECK (a scratch image has no curl). Status 200 is healthy; any other
// status, no answer, or no answer within the timeout is an error, which main
// prints on stderr before exiting 1.
func healthcheckFlags(fs *flag.FlagSet) func(context.Context, commandEnv) error {
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long (at most 60s)")
	return func(ctx context.Context, env commandEnv) error {
		if *timeout <= 0 || *timeout > time.Minute {
			return usageError{msg: fmt.Sprintf("healthcheck: --timeout %s is outside 0s..60s", *timeout), usage: "Usage: ironclad healthcheck [--timeout 5s]\n"}
		}
		url, err := readyzURL(env.cfg.Addr)
		if err != nil {
			return fmt.Errorf("healthcheck: ADDR: %w", err)
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
		// No proxy from the environment and no redirects: the probe is of
		// this process's own listener, nothing else.
		client := &http.Client{
			Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		resp, err := client.Do(req)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("healthcheck: GET %s: no answer within %s", url, *timeout)
			}
			return fmt.Errorf("healthcheck: GET %s: %w", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthcheck: GET %s: %s: %q", url, resp.Status, body)
		}
		fmt.Fprintf(env.stdout, "ready: GET %s: %s\n", url, resp.Status)
		return nil
	}
}

// readyzURL is the /readyz address of a server listening on addr (ADDR):
// an empty or unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") is
// reached on loopback.
func readyzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
