// Command distridata is the one binary of DistriData: the daemon, the
// storage node, the embedded local cluster, the client CLI and the load
// generator, as subcommands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sort"
	"syscall"
)

// version and commit are set at build time with -ldflags
// "-X main.version=... -X main.commit=..." (see the Makefile). Without
// them, versionString falls back to what the Go toolchain recorded.
var (
	version = "dev"
	commit  = ""
)

// Exit codes that scripts can rely on.
const (
	exitOK          = 0
	exitNotFound    = 1
	exitUsage       = 2
	exitUnavailable = 3 // unavailable, or the outcome is unknown
	exitDiskFault   = 4 // a storage node stopped itself after a disk write or sync failed
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns the process exit code; it owns flag parsing.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands is filled by the cmd_*.go files, one subcommand (or family) each,
// so that subcommands can be added without touching this file.
var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "distridata: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	// SIGINT and SIGTERM cancel ctx: servers drain and exit 0, clients stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "distridata %s: a replicating key-value daemon\n\nUsage: distridata COMMAND [flags]\n\nCommands:\n", version)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'distridata COMMAND --help' for a command's flags.\n")
}

func init() {
	register("version", command{summary: "print the version", run: func(_ context.Context, _ []string, stdout, _ io.Writer) int {
		fmt.Fprintln(stdout, versionString())
		return exitOK
	}})
}

// versionString is "distridata VERSION (module M@V, commit C, goX)". The
// commit comes from -X main.commit, else from the VCS stamp `go build`
// records in a git checkout.
func versionString() string {
	mod, rev, dirty := "unknown", commit, false
	if bi, ok := debug.ReadBuildInfo(); ok {
		mod = bi.Main.Path + "@" + bi.Main.Version
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && rev == "":
				rev = s.Value[:min(len(s.Value), 12)]
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = true
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	} else if dirty && commit == "" {
		rev += "-dirty"
	}
	return fmt.Sprintf("distridata %s (module %s, commit %s, %s)", version, mod, rev, runtime.Version())
}
