package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/protocol"
)

// The client data commands: put, get, del, stats, ping. Each dials the
// daemon, makes one call, and maps the result to an exit code that
// scripts can rely on (see dataExitHelp).

const (
	// defaultClientAddr is the daemon's default listen address; the
	// DISTRIDATA_ADDR environment variable replaces it.
	defaultClientAddr = "127.0.0.1:7379"
	addrEnv           = "DISTRIDATA_ADDR"
	// defaultClientTimeout bounds the connect, then the call.
	defaultClientTimeout = 5 * time.Second
)

// clientStdin is where "put KEY -" reads the value; tests replace it.
var clientStdin io.Reader = os.Stdin

// dataExitHelp is the contract shared by every data command's --help.
const dataExitHelp = `
Exit codes:
  0  ok
  1  not found ("not found" on stderr)
  2  usage error (bad flags or arguments, unreadable --token-file or
     TLS files)
  3  failed, unknown outcome, or connection error; stderr has one line
     "distridata CMD: status=STATUS outcome=CLASS: detail", where STATUS
     is the server's status (TIMEOUT, BUSY, ...) or "none" when no reply
     came, and CLASS is "failed" (not applied anywhere: safe to retry) or
     "unknown" (a write that may have been applied: read before retrying)
`

// dataCommand describes one data command: its arguments, whether it
// takes --w or --r, and its help.
type dataCommand struct {
	name, args, summary, help string
	nargs                     int
	quorum                    string // "w", "r" or "" (no quorum flag)
	do                        func(ctx context.Context, c *client.Conn, a dataArgs, stdout io.Writer) error
}

// dataArgs are the parsed flags and positional arguments of one command.
type dataArgs struct {
	addr      string
	quorum    int
	timeout   time.Duration
	tokenFile string
	tls       clientTLSFlags
	pos       []string
}

func init() {
	for _, dc := range []dataCommand{
		{name: "put", args: "KEY VALUE|-", nargs: 2, quorum: "w", do: doPut,
			summary: "store a value (put KEY VALUE, or - to read it from stdin)",
			help:    "Stores VALUE under KEY, or the bytes of stdin if VALUE is -. Prints nothing on success."},
		{name: "get", args: "KEY", nargs: 1, quorum: "r", do: doGet,
			summary: "print a key's value",
			help: "Writes the value of KEY to stdout as raw bytes, exactly as stored: no newline is added\n" +
				"when stdout is a file or a pipe. On a terminal a newline is added if the value lacks one."},
		{name: "del", args: "KEY", nargs: 1, quorum: "w", do: doDel,
			summary: "delete a key",
			help:    "Deletes KEY (a versioned tombstone). Prints nothing on success; exits 1 if the server says NOT_FOUND."},
		{name: "stats", nargs: 0, do: doStats,
			summary: "print a summary of the daemon's counters, then all of them",
			help:    "Prints a summary (connections, requests, shedding, replication, one line per storage\nnode), then every counter, one \"name value\" pair per line."},
		{name: "ping", nargs: 0, do: doPing,
			summary: "check that the daemon answers",
			help:    "Makes one round trip and prints \"pong\" and the round-trip time."},
	} {
		register(dc.name, command{summary: dc.summary, run: dc.run})
	}
}

// run parses, dials, calls and reports; it returns the exit code.
func (dc dataCommand) run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a, code, ok := dc.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	token, err := readClientToken(a.tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "distridata %s: %v\n", dc.name, err)
		return exitUsage
	}
	opts := client.DefaultOptions()
	opts.Token, opts.DialTimeout, opts.Timeout = token, a.timeout, a.timeout
	if opts.TLS, err = a.tls.config(); err != nil {
		fmt.Fprintf(stderr, "distridata %s: %v\n", dc.name, err)
		return exitUsage
	}
	c, err := client.Dial(ctx, a.addr, opts)
	if err != nil {
		return reportDataErr(dc.name, err, stderr)
	}
	defer c.Close()
	if err := dc.do(ctx, c, a, stdout); err != nil {
		return reportDataErr(dc.name, err, stderr)
	}
	return exitOK
}

// parse reads flags and exactly nargs arguments, which may come in any
// order ("put k v --w 3"); after "--" everything is an argument, for keys
// that start with a dash. ok is false when the command should exit now
// with code.
func (dc dataCommand) parse(args []string, stdout, stderr io.Writer) (a dataArgs, code int, ok bool) {
	fs := flag.NewFlagSet(dc.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := defaultClientAddr
	if env := os.Getenv(addrEnv); env != "" {
		addr = env
	}
	fs.StringVar(&a.addr, "addr", addr, "daemon address host:port; $"+addrEnv+", if set, replaces the default")
	fs.DurationVar(&a.timeout, "timeout", defaultClientTimeout, "bound on the connect, then on the call")
	fs.StringVar(&a.tokenFile, "token-file", "", "file holding the auth token (surrounding whitespace ignored)")
	a.tls.register(fs)
	switch dc.quorum {
	case "w":
		fs.IntVar(&a.quorum, "w", 0, "write quorum W, 1..N (0 = the daemon's default)")
	case "r":
		fs.IntVar(&a.quorum, "r", 0, "read quorum R, 1..N (0 = the daemon's default)")
	}
	fs.Usage = func() { dc.usage(fs) }
	if wantsHelp(args) {
		fs.SetOutput(stdout)
		fs.Usage()
		return a, exitOK, false
	}
	pos, err := parseInterleaved(fs, args)
	switch {
	case err != nil:
		return a, exitUsage, false // flag has printed the error and usage
	case len(pos) != dc.nargs:
		fmt.Fprintf(stderr, "distridata %s: want %d argument(s) (%s), got %d\n", dc.name, dc.nargs, dc.args, len(pos))
	case a.timeout <= 0:
		fmt.Fprintf(stderr, "distridata %s: --timeout must be positive\n", dc.name)
	case a.quorum < 0 || a.quorum > 255:
		fmt.Fprintf(stderr, "distridata %s: --%s must be in 0..255\n", dc.name, dc.quorum)
	default:
		a.pos = pos
		return a, exitOK, true
	}
	return a, exitUsage, false
}

func (dc dataCommand) usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\nFlags:\n", strings.TrimSpace("distridata "+dc.name+" [flags] "+dc.args), dc.help)
	fs.PrintDefaults()
	fmt.Fprint(w, dataExitHelp)
}

// wantsHelp reports a -h or --help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// parseInterleaved parses flags anywhere among the arguments and returns
// the arguments. The flag package stops at the first non-flag, so parse
// again after each one.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// readClientToken reads --token-file; surrounding whitespace (a trailing
// newline from an editor) is not part of the token.
func readClientToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read --token-file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// callCtx bounds one call by --timeout.
func callCtx(ctx context.Context, a dataArgs) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}

func doPut(ctx context.Context, c *client.Conn, a dataArgs, _ io.Writer) error {
	val := []byte(a.pos[1])
	if a.pos[1] == "-" {
		// One byte over the server's limit is enough to refuse it.
		var err error
		val, err = io.ReadAll(io.LimitReader(clientStdin, int64(c.ServerInfo().Limits.MaxValueSize)+1))
		if err != nil {
			return fmt.Errorf("cannot read the value from stdin: %w", err)
		}
	}
	ctx, cancel := callCtx(ctx, a)
	defer cancel()
	_, err := c.Put(ctx, []byte(a.pos[0]), val, client.WithQuorum(a.quorum))
	return err
}

func doGet(ctx context.Context, c *client.Conn, a dataArgs, stdout io.Writer) error {
	ctx, cancel := callCtx(ctx, a)
	defer cancel()
	val, _, err := c.Get(ctx, []byte(a.pos[0]), client.WithQuorum(a.quorum))
	if err != nil {
		return err
	}
	if writerIsTerminal(stdout) && !bytes.HasSuffix(val, []byte("\n")) {
		val = append(val, '\n')
	}
	_, err = stdout.Write(val)
	return err
}

func doDel(ctx context.Context, c *client.Conn, a dataArgs, _ io.Writer) error {
	ctx, cancel := callCtx(ctx, a)
	defer cancel()
	_, err := c.Del(ctx, []byte(a.pos[0]), client.WithQuorum(a.quorum))
	return err
}

func doStats(ctx context.Context, c *client.Conn, a dataArgs, stdout io.Writer) error {
	ctx, cancel := callCtx(ctx, a)
	defer cancel()
	text, err := c.Stats(ctx)
	if err != nil {
		return err
	}
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	summarizeStats(stdout, text)
	_, err = io.WriteString(stdout, "\nall counters:\n"+text)
	return err
}

func doPing(ctx context.Context, c *client.Conn, a dataArgs, stdout io.Writer) error {
	ctx, cancel := callCtx(ctx, a)
	defer cancel()
	start := time.Now()
	if err := c.Ping(ctx); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "pong %v\n", time.Since(start).Round(time.Microsecond))
	return err
}

// reportDataErr prints err as the exit-code contract says and returns
// the code.
func reportDataErr(cmd string, err error, stderr io.Writer) int {
	if errors.Is(err, client.ErrNotFound) {
		fmt.Fprintln(stderr, "not found")
		return exitNotFound
	}
	status := "none"
	var se *client.StatusError
	if errors.As(err, &se) {
		status = se.Status.String()
	}
	class := protocol.OutcomeFailed
	if errors.Is(err, client.ErrUnknownOutcome) {
		class = protocol.OutcomeUnknown
	}
	fmt.Fprintf(stderr, "distridata %s: status=%s outcome=%v: %v\n", cmd, status, class, err)
	return exitUnavailable
}

// writerIsTerminal reports whether w is a terminal, where a value
// without a final newline would run into the shell's prompt.
func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
