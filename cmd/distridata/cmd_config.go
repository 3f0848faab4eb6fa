package main

import (
	"context"
	"fmt"
	"io"
)

func init() {
	register("config", command{summary: "config check FILE: validate a serve config; config default: print every knob", run: runConfig})
}

const configUsage = `Usage:
  distridata config check FILE   validate FILE as serve would, without starting (exit 0 ok, 2 invalid)
  distridata config default      print every knob at its default, with its unit and reason
`

func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 1 && args[0] == "default":
		writeDefaultConfig(stdout)
		return exitOK
	case len(args) == 2 && args[0] == "check":
		if err := checkConfigFile(args[1]); err != nil {
			fmt.Fprintf(stderr, "distridata config check: %s: %v\n", args[1], err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "%s: ok\n", args[1])
		return exitOK
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		fmt.Fprint(stdout, configUsage)
		return exitOK
	}
	fmt.Fprint(stderr, configUsage)
	return exitUsage
}

// checkConfigFile loads path the way serve --config does and checks the
// result as Start would (ring, quorums, links, repair), reading the
// token files it names; it binds nothing.
func checkConfigFile(path string) error {
	o, err := parseServe([]string{"--config", path}, io.Discard)
	if err != nil {
		return err
	}
	_, err = o.daemonConfig(io.Discard)
	return err
}
