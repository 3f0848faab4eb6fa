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
		advice, err := checkConfigFile(args[1])
		if err != nil {
			fmt.Fprintf(stderr, "distridata config check: %s: %v\n", args[1], err)
			return exitUsage
		}
		for _, a := range advice {
			fmt.Fprintf(stdout, "%s: warning: ring: %s\n", args[1], a)
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
// token files it names; it binds nothing. It returns the ring's advice
// (warnings that do not stop a start).
func checkConfigFile(path string) ([]string, error) {
	o, err := parseServe([]string{"--config", path}, io.Discard)
	if err != nil {
		return nil, err
	}
	cfg, err := o.daemonConfig(io.Discard)
	if err != nil {
		return nil, err
	}
	return cfg.RingAdvice()
}
