package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ironclad-auth/ironclad/app"
)

// keysFlags is `ironclad keys`: list, rotate [--activate-now], revoke KID.
func keysFlags(*flag.FlagSet) func(context.Context, commandEnv) error {
	return func(ctx context.Context, env commandEnv) error {
		if len(env.args) == 0 {
			return usageError{msg: "keys: want list, rotate or revoke", usage: "Usage: ironclad keys list | rotate [--activate-now] | revoke KID\n"}
		}
		sub, rest := env.args[0], env.args[1:]
		var activateNow bool
		switch sub {
		case "list":
			if len(rest) > 0 {
				return usageError{msg: "keys list: unexpected argument " + fmt.Sprintf("%q", rest[0]), usage: "Usage: ironclad keys list\n"}
			}
		case "rotate":
			fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.BoolVar(&activateNow, "activate-now", false, "sign with the new key at once instead of after JWT_KEY_PUBLISH_DELAY")
			if err := fs.Parse(rest); err != nil || fs.NArg() > 0 {
				return usageError{msg: "keys rotate: takes only --activate-now", usage: "Usage: ironclad keys rotate [--activate-now]\n"}
			}
		case "revoke":
			if len(rest) != 1 {
				return usageError{msg: "keys revoke: want one KID", usage: "Usage: ironclad keys revoke KID\n"}
			}
		default:
			return usageError{msg: fmt.Sprintf("keys: unknown subcommand %q", sub), usage: "Usage: ironclad keys list | rotate [--activate-now] | revoke KID\n"}
		}
		a, err := app.Open(ctx, env.cfg, env.log)
		if err != nil {
			return err
		}
		defer a.Close()
		if a.Keys == nil {
			return errors.New("keys: there is no database key ring (JWT_ALG is HS256, or JWT_PRIVATE_KEY_FILE is set)")
		}
		switch sub {
		case "rotate":
			kid, err := a.Keys.Rotate(ctx, env.cfg.JWTAlg, env.cfg.JWTKeyPublishDelay, activateNow)
			if err != nil {
				return err
			}
			if activateNow {
				fmt.Fprintf(env.stdout, "key %s signs from now on\n", kid)
			} else {
				fmt.Fprintf(env.stdout, "key %s published; it signs from %s\n", kid, time.Now().Add(env.cfg.JWTKeyPublishDelay).UTC().Format(time.RFC3339))
			}
			return nil
		case "revoke":
			if err := a.Keys.Revoke(ctx, rest[0]); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "key %s revoked\n", rest[0])
			return nil
		}
		rows, err := a.Keys.Keys(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "KID\tALG\tSTATE\tCREATED\tACTIVATES\tVERIFY-ONLY FROM\tREVOKED")
		for _, k := range rows {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, stamp(&k.CreatedAt), stamp(k.ActivatesAt), stamp(k.VerifyOnlyFrom), stamp(k.RevokedAt))
		}
		return w.Flush()
	}
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
