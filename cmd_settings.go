package main

import (
	"context"
	"fmt"
	"io"

	"esauth/config"
)

// settings prints every setting as a Markdown table: the one in README.md,
// generated from config so the two cannot disagree.
func settings(_ context.Context, args []string, _ func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("settings", "", "Prints every setting (environment variable) as a Markdown table.")
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprint(stdout, config.Markdown())
	return nil
}
