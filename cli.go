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
	"runtime/debug"
	"strings"

	"golang.org/x/term"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
)

// commandEnv is what a command runs with. cfg and log are zero for the
// commands that need no configuration (help, version).
type commandEnv struct {
	cfg    app.Config
	log    *slog.Logger
	stdin  io.Reader
	stdout io.Writer
	args   []string // the arguments after the command's flags
}

// command is one subcommand of ironclad: its name, what it does, and its
// own flags. Unknown flags and stray arguments are refused with its usage.
type command struct {
	name     string
	args     string // the positional arguments it takes, for the usage line
	summary  string
	noConfig bool // runs without loading the configuration
	maxArgs  int  // positional arguments allowed
	// interspersed lets flags follow positional arguments.
	interspersed bool
	flags        func(fs *flag.FlagSet) func(ctx context.Context, env commandEnv) error
	run          func(ctx context.Context, env commandEnv) error // set by parseCommand
}

// commands lists every subcommand, in the order `help` shows them.
func commands() []*command {
	return []*command{
		{name: "serve", summary: "serve the GraphQL API (the default command)", flags: func(*flag.FlagSet) func(context.Context, commandEnv) error {
			return func(ctx context.Context, env commandEnv) error { return serve(ctx, env.cfg, env.log, env.stdout) }
		}},
		{name: "migrate", summary: "apply database migrations and exit", flags: func(*flag.FlagSet) func(context.Context, commandEnv) error {
			return func(ctx context.Context, env commandEnv) error {
				a, err := app.Open(ctx, env.cfg, env.log)
				if err != nil {
					return err
				}
				defer a.Close()
				fmt.Fprintln(env.stdout, "migrations applied")
				return nil
			}
		}},
		{name: "purge", summary: "delete expired and used refresh tokens and ended sessions, and exit", flags: purgeFlags},
		{name: "createuser", summary: "create an account; the password comes from a prompt or --password-stdin", flags: createUserFlags},
		deleteUserCommand(),
		changePasswordCommand(),
		importCommand(),
		{name: "keys", args: "list | rotate [--activate-now] | revoke KID", summary: "list, rotate or revoke the access-token signing keys", maxArgs: 3, flags: keysFlags},
		{name: "help", args: "[COMMAND]", summary: "show this help, or a command's flags", noConfig: true, maxArgs: 1},
		{name: "version", summary: "print the version and VCS revision of this build", noConfig: true, flags: func(*flag.FlagSet) func(context.Context, commandEnv) error {
			return func(_ context.Context, env commandEnv) error { fmt.Fprintln(env.stdout, version()); return nil }
		}},
	}
}

// The account commands take their flags anywhere on the line
// (`import users FILE --emails-verified`); they are built in cli_accounts.go.
func deleteUserCommand() *command {
	c := &command{name: "deleteuser", args: "USERNAME", summary: "delete an account with its sessions and tokens", maxArgs: 1, interspersed: true}
	c.flags = deleteUserFlags(c)
	return c
}

func changePasswordCommand() *command {
	c := &command{name: "changepassword", args: "USERNAME", summary: "set a user's password and end their sessions; from a prompt or --password-stdin", maxArgs: 1, interspersed: true}
	c.flags = changePasswordFlags(c)
	return c
}

func importCommand() *command {
	c := &command{name: "import", args: "users FILE", summary: "import accounts from a Django dumpdata, JSON or CSV file (FILE - is stdin)", maxArgs: 2, interspersed: true}
	c.flags = importFlags(c)
	return c
}

// usageError is a command line that cannot run: main prints it with the
// usage and exits with status 2.
type usageError struct{ msg, usage string }

func (e usageError) Error() string { return e.msg }

// parseCommand picks the command of args and parses its flags. It returns
// a nil command when it printed help (exit status 0).
func parseCommand(args []string, stdout io.Writer) (*command, []string, error) {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	} else if len(args) > 0 && isHelpFlag(args[0]) {
		fmt.Fprint(stdout, mainUsage())
		return nil, nil, nil
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		return nil, nil, usageError{msg: fmt.Sprintf("unknown command %q", name), usage: mainUsage()}
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, help is printed below
	if cmd.name == "help" {
		cmd.run = func(_ context.Context, env commandEnv) error { return help(env.args, env.stdout) }
	} else {
		cmd.run = cmd.flags(fs)
	}
	parse := fs.Parse
	if cmd.interspersed {
		parse = func(args []string) error { return parseInterspersed(fs, args) }
	}
	if err := parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, commandUsage(cmd, fs))
			return nil, nil, nil
		}
		return nil, nil, usageError{msg: cmd.name + ": " + err.Error(), usage: commandUsage(cmd, fs)}
	}
	if fs.NArg() > cmd.maxArgs {
		return nil, nil, usageError{msg: fmt.Sprintf("%s: unexpected argument %q", cmd.name, fs.Arg(cmd.maxArgs)), usage: commandUsage(cmd, fs)}
	}
	return cmd, fs.Args(), nil
}

// parseInterspersed parses fs from args, allowing flags after positional
// arguments; afterwards fs.Args() holds the positional ones. "--" ends the
// flags.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if len(rest) == 0 || (consumed > 0 && args[consumed-1] == "--") {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	// Leave the positional arguments where fs.Args() finds them.
	return fs.Parse(append([]string{"--"}, pos...))
}

func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// mainUsage lists the commands.
func mainUsage() string {
	var b strings.Builder
	b.WriteString("Usage: ironclad [COMMAND] [FLAGS]\n\nIronclad serves a GraphQL API with JWT authentication. Configuration comes from\nthe environment (see the README's configuration table).\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-15s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'ironclad COMMAND -h' for the flags of a command.\n")
	return b.String()
}

// commandUsage is one command's usage line and flags.
func commandUsage(cmd *command, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: ironclad %s [FLAGS] %s\n\n%s.\n", cmd.name, cmd.args, cmd.summary)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		b.WriteString("\nFlags:\n")
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return b.String()
}

// help prints the main usage, or one command's.
func help(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, mainUsage())
		return nil
	}
	_, _, err := parseCommand([]string{args[0], "-h"}, stdout)
	return err
}

// version is the module version and VCS revision recorded in the build.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "ironclad (no build information)"
	}
	v := "ironclad " + bi.Main.Version
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = " (modified)"
			}
		}
	}
	if rev != "" {
		v += " " + rev + dirty
		if at != "" {
			v += " " + at
		}
	}
	return v + " " + bi.GoVersion
}

// purgeFlags is `ironclad purge [--dry-run]`.
func purgeFlags(fs *flag.FlagSet) func(context.Context, commandEnv) error {
	dry := fs.Bool("dry-run", false, "count what would be deleted, and delete nothing")
	return func(ctx context.Context, env commandEnv) error {
		a, err := app.Open(ctx, env.cfg, env.log)
		if err != nil {
			return err
		}
		defer a.Close()
		if *dry {
			n, err := a.Auth.CountPurgeable(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "would purge %d rows (dry run: nothing deleted)\n", n)
			return nil
		}
		n, err := a.Auth.Purge(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "purged %d rows\n", n)
		return nil
	}
}

// createUserFlags is `ironclad createuser`, in the manner of Django's
// createsuperuser: the password comes from stdin (--password-stdin) or from
// a prompt without echo, never from the command line.
func createUserFlags(fs *flag.FlagSet) func(context.Context, commandEnv) error {
	username := fs.String("username", "", "username (required)")
	email := fs.String("email", "", "email address")
	role := fs.String("role", "user", "role: user or admin")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	return func(ctx context.Context, env commandEnv) error {
		if strings.TrimSpace(*username) == "" {
			return errors.New("createuser: --username is required")
		}
		r := models.Role(strings.ToUpper(*role))
		if !r.IsValid() {
			return fmt.Errorf("createuser: --role must be user or admin, not %q", *role)
		}
		password, err := readPassword(env.stdin, env.stdout, *fromStdin)
		if err != nil {
			return fmt.Errorf("createuser: %w", err)
		}
		a, err := app.Open(ctx, env.cfg, env.log)
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
		fmt.Fprintf(env.stdout, "created user %q with role %s (id %s)\n", u.Username, u.Role, u.ID)
		return nil
	}
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
