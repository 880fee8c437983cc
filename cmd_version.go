package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
)

// version prints the module's version and the commit it was built from.
func version(_ context.Context, args []string, _ func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "[--json]", "Prints the module's version and the commit it was built from.")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	v := struct {
		Version  string `json:"version"`
		Revision string `json:"revision,omitempty"`
		Time     string `json:"time,omitempty"`
		Modified bool   `json:"modified,omitempty"`
		Go       string `json:"go"`
	}{Version: "(unknown)"}
	if info, ok := debug.ReadBuildInfo(); ok {
		v.Version, v.Go = info.Main.Version, info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(v)
	}
	line := "esauth " + v.Version
	if v.Revision != "" {
		line += " " + v.Revision
		if v.Modified {
			line += "-dirty"
		}
	}
	fmt.Fprintf(stdout, "%s (%s)\n", line, v.Go)
	return nil
}
