package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
)

// createUser implements `ironclad createuser`, in the manner of Django's
// createsuperuser: the password comes from stdin (--password-stdin) or from
// a prompt without echo, never from the command line.
func createUser(ctx context.Context, cfg app.Config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("createuser", flag.ContinueOnError)
	fs.SetOutput(stdout)
	username := fs.String("username", "", "username (required)")
	email := fs.String("email", "", "email address")
	role := fs.String("role", "user", "role: user or admin")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if strings.TrimSpace(*username) == "" {
		return errors.New("createuser: --username is required")
	}
	r := models.Role(strings.ToUpper(*role))
	if !r.IsValid() {
		return fmt.Errorf("createuser: --role must be user or admin, not %q", *role)
	}
	password, err := readPassword(stdin, stdout, *fromStdin)
	if err != nil {
		return fmt.Errorf("createuser: %w", err)
	}

	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.Auth.Accounts.Create(ctx, auth.NewUser{Username: *username, Email: *email, Password: password, Role: r})
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) {
			return fmt.Errorf("createuser: %s", me.Message)
		}
		return fmt.Errorf("createuser: %w", err)
	}
	fmt.Fprintf(stdout, "created user %q with role %s (id %s)\n", u.Username, u.Role, u.ID)
	return nil
}

// readPassword reads one line from stdin, or prompts twice without echo when
// stdin is a terminal and --password-stdin was not given.
func readPassword(stdin io.Reader, stdout io.Writer, fromStdin bool) (string, error) {
	if f, ok := stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stdout, "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stdout)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stdout, "Password (again): ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stdout)
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", errors.New("passwords do not match")
		}
		return string(p1), nil
	}
	if !fromStdin {
		return "", errors.New("stdin is not a terminal: pass --password-stdin and pipe the password")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, auth.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("password is empty")
	}
	return line, nil
}
