package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"esauth/lib/elastic"
)

// initIndices creates the indices and their index templates, and with
// --sample-user a demo user; with --repair it migrates first.
func initIndices(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("init", "[--sample-user] [--repair]",
		"Creates the indices and their index templates (and a demo user); --repair runs migrate first.")
	sample := fs.Bool("sample-user", false, "also create the demo user demo@example.com with a random password")
	repair := fs.Bool("repair", false, "the same as esauth migrate: move indices whose mapping is wrong into new ones, keeping their documents")
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	a, err := newApp(getenv, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	if *repair {
		if err := migrate(ctx, a, stdout); err != nil {
			return err
		}
	}
	if err := setUpIndices(ctx, a.store); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "indices %s are ready, with their index templates\n", strings.Join(a.store.IndexNames(), ", "))
	if !*sample {
		return nil
	}
	// A random password rather than a fixed one, so a demo user left on a
	// real cluster is not an open door. It is printed once, for the operator.
	var b [12]byte
	_, _ = rand.Read(b[:])
	pw := base64.RawURLEncoding.EncodeToString(b[:])
	events, done := a.auditRecorder(64, 10*time.Second, stderr)
	defer done()
	if _, err := addUser(ctx, a, events, "demo@example.com", "Demo", "User", pw, false); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created demo@example.com with password %s\n", pw)
	return nil
}

func migrateCommand(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "",
		"Moves every index to this version's layout and mapping (an alias over <alias>-00000n),\nkeeping its documents; safe to run again.")
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	a, err := newApp(getenv, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	if err := migrate(ctx, a, stdout); err != nil {
		return err
	}
	return setUpIndices(ctx, a.store)
}

// migrate runs Store.Migrate and prints a line per index.
func migrate(ctx context.Context, a *app, stdout io.Writer) error {
	reports, err := a.store.Migrate(ctx)
	for _, r := range reports {
		fmt.Fprintln(stdout, r)
	}
	return err
}

// setUpIndices is EnsureIndices for the command line: a wrong mapping or a
// newer version comes back as the error that says what to do.
func setUpIndices(ctx context.Context, store *elastic.Store) error {
	err := store.EnsureIndices(ctx)
	var wrong *elastic.MappingError
	var newer *elastic.VersionError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &wrong):
		return wrong
	case errors.As(err, &newer):
		return newer
	}
	return fmt.Errorf("setting up the indices: %w", err)
}
