package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
)

// The account commands of an operator: deleteuser, changepassword and
// import users.

// clientMessage is the message of a typed error (safe and meant for people),
// or the error itself.
func clientMessage(cmd string, err error) error {
	var me *models.Error
	if errors.As(err, &me) {
		return fmt.Errorf("%s: %s", cmd, me.Message)
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// oneUsername is the USERNAME argument of a command.
func oneUsername(cmd *command, args []string) (string, error) {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return "", usageError{msg: cmd.name + ": want one USERNAME", usage: "Usage: ironclad " + cmd.name + " [FLAGS] " + cmd.args + "\n"}
	}
	return args[0], nil
}

// deleteUserFlags is `ironclad deleteuser USERNAME`.
func deleteUserFlags(cmd *command) func(*flag.FlagSet) func(context.Context, commandEnv) error {
	return func(*flag.FlagSet) func(context.Context, commandEnv) error {
		return func(ctx context.Context, env commandEnv) error {
			username, err := oneUsername(cmd, env.args)
			if err != nil {
				return err
			}
			a, err := app.Open(ctx, env.cfg, env.log)
			if err != nil {
				return err
			}
			defer a.Close()
			u, err := a.Auth.Accounts.DeleteByUsername(ctx, username)
			if err != nil {
				return clientMessage("deleteuser", err)
			}
			fmt.Fprintf(env.stdout, "deleted user %q (id %s) with their sessions and tokens\n", u.Username, u.ID)
			return nil
		}
	}
}

// changePasswordFlags is `ironclad changepassword USERNAME
// [--password-stdin]`, like Django's: the password comes from two prompts
// without echo, or one line of stdin; the rules of register apply; every
// session of the user ends.
func changePasswordFlags(cmd *command) func(*flag.FlagSet) func(context.Context, commandEnv) error {
	return func(fs *flag.FlagSet) func(context.Context, commandEnv) error {
		fromStdin := fs.Bool("password-stdin", false, "read the new password from standard input (one line)")
		return func(ctx context.Context, env commandEnv) error {
			username, err := oneUsername(cmd, env.args)
			if err != nil {
				return err
			}
			password, err := readPassword(env.stdin, env.stdout, *fromStdin)
			if err != nil {
				return fmt.Errorf("changepassword: %w", err)
			}
			a, err := app.Open(ctx, env.cfg, env.log)
			if err != nil {
				return err
			}
			defer a.Close()
			u, n, err := a.Auth.Accounts.SetPasswordByUsername(ctx, username, password)
			if err != nil {
				return clientMessage("changepassword", err)
			}
			fmt.Fprintf(env.stdout, "password of %q changed; %d sessions ended\n", u.Username, n)
			return nil
		}
	}
}

// maxListed bounds how many skipped usernames the import prints.
const maxListed = 50

// importFlags is `ironclad import users FILE`.
func importFlags(cmd *command) func(*flag.FlagSet) func(context.Context, commandEnv) error {
	return func(fs *flag.FlagSet) func(context.Context, commandEnv) error {
		format := fs.String("format", auth.FormatAuto, "file format: auto (csv for a .csv file, else JSON: a Django dump or the plain format), django, json or csv")
		adminFrom := fs.String("admin-from", auth.AdminFromSuperuser, "which Django users become ADMIN: superuser, staff, both or none")
		verified := fs.Bool("emails-verified", false, "mark every imported email address verified")
		batch := fs.Int("batch-size", auth.DefaultImportBatch, "users per transaction")
		return func(ctx context.Context, env commandEnv) error {
			usage := usageError{msg: "import: want: users FILE", usage: "Usage: ironclad import [FLAGS] " + cmd.args + "\n"}
			if len(env.args) != 2 || env.args[0] != "users" {
				return usage
			}
			switch *adminFrom {
			case auth.AdminFromSuperuser, auth.AdminFromStaff, auth.AdminFromBoth, auth.AdminFromNone:
			default:
				return usageError{msg: fmt.Sprintf("import: --admin-from must be superuser, staff, both or none, not %q", *adminFrom), usage: usage.usage}
			}
			switch *format {
			case auth.FormatAuto, auth.FormatDjango, auth.FormatJSON, auth.FormatCSV:
			default:
				return usageError{msg: fmt.Sprintf("import: --format must be auto, django, json or csv, not %q", *format), usage: usage.usage}
			}
			if *batch < 1 || *batch > 5000 {
				return usageError{msg: "import: --batch-size must be 1 to 5000", usage: usage.usage}
			}
			name := env.args[1]
			var in io.Reader = env.stdin
			if name != "-" {
				f, err := os.Open(name)
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer f.Close()
				in = f
			}
			a, err := app.Open(ctx, env.cfg, env.log)
			if err != nil {
				return err
			}
			defer a.Close()
			rep, err := a.Auth.Accounts.Import(ctx, in, auth.ImportOptions{
				Format: *format, Name: name, AdminFrom: *adminFrom, EmailsVerified: *verified,
				BatchSize: *batch, Progress: env.stdout,
			})
			if rep != nil {
				printImport(env.stdout, rep)
			}
			if err != nil {
				return fmt.Errorf("import: %w (the users imported so far stay; run the import again to complete it)", err)
			}
			if len(rep.Bad) > 0 {
				return fmt.Errorf("import: %d rows not imported (listed above with their lines)", len(rep.Bad))
			}
			return nil
		}
	}
}

// printImport prints the bad rows, the skipped usernames and the summary.
func printImport(w io.Writer, rep *auth.ImportReport) {
	for _, b := range rep.Bad {
		who := ""
		if b.Username != "" {
			who = fmt.Sprintf(" (%q)", b.Username)
		}
		fmt.Fprintf(w, "line %d, record %d%s: not imported: %s\n", b.Line, b.Record, who, b.Reason)
	}
	if n := len(rep.Skipped); n > 0 {
		shown := rep.Skipped[:min(n, maxListed)]
		more := ""
		if n > maxListed {
			more = fmt.Sprintf(" … and %d more", n-maxListed)
		}
		fmt.Fprintf(w, "skipped, already exist: %s%s\n", strings.Join(shown, ", "), more)
	}
	fmt.Fprint(w, rep.Summary())
}
