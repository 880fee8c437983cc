package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap/zapcore"
)

const keysUsage = `usage:
  esauth keys rotate [--json]
Each takes --help for what it does and its flags.
`

// keysCommands are the subcommands of "esauth keys": the data keys that
// seal the secrets of the users index (ESAUTH_DATA_KEYS).
func keysCommands() map[string]command {
	return map[string]command{"rotate": keysRotate}
}

// keysRotate seals every TOTP secret with the first key of
// ESAUTH_DATA_KEYS: those still in clear (written before the keys were
// set) and those sealed with an older key, which may then be dropped.
func keysRotate(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys rotate", "[--json]",
		"Seals every TOTP secret with the first key of ESAUTH_DATA_KEYS (those in clear and those under\nan older key), through the users alias; safe to run again.")
	asJSON := fs.Bool("json", false, "print JSON, for scripts")
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	a, err := newApp(getenv, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	if a.cfg.DataKeys == nil {
		return errors.New("keys rotate: ESAUTH_DATA_KEYS is unset: give it the key to seal with first")
	}
	n, err := a.store.ResealSecrets(ctx)
	if err != nil {
		return cliError(err)
	}
	out := printer{w: stdout, json: *asJSON}
	return out.print(map[string]any{"resealed": n, "key": a.cfg.DataKeys.Sealing()}, func(w io.Writer) {
		fmt.Fprintf(w, "%d TOTP secret(s) sealed again with key %s\n", n, a.cfg.DataKeys.Sealing())
	})
}
