package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/distridata/distridata/bench"
)

func init() {
	register("idle", command{summary: "hold many idle connections open (measures per-connection cost)", run: runIdle})
}

// runIdle opens --conns connections, completes HELLO on each and holds
// them for --hold: the client side of the "RSS per idle connection"
// measurement, run in a process of its own (file-descriptor limits).
// With --trickle they are slowloris connections instead, run apart from
// the process that measures the daemon so that its scheduling is not in
// the measurement.
func runIdle(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg bench.IdleConfig
	var tokenFile string
	var tf clientTLSFlags
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", bench.DefaultDistriDataAddr, "daemon host:port")
	fs.IntVar(&cfg.Conns, "conns", 10000, "connections to open")
	fs.DurationVar(&cfg.Hold, "hold", 0, "how long to hold them open (required)")
	fs.DurationVar(&cfg.Trickle, "trickle", 0, "slowloris: skip HELLO and send one byte of one every this often per connection, never completing it, until the daemon closes them (0 = idle after HELLO)")
	fs.StringVar(&tokenFile, "token-file", "", "file holding the HELLO token")
	tf.register(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return exitUsage
	}
	if tokenFile != "" {
		tok, err := readToken(tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "distridata idle: %v\n", err)
			return exitUsage
		}
		cfg.Token = []byte(tok)
	}
	var err error
	if cfg.TLS, err = tf.config(); err != nil {
		fmt.Fprintf(stderr, "distridata idle: %v\n", err)
		return exitUsage
	}
	res, err := bench.HoldIdle(ctx, cfg)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "distridata idle: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "opened %d refused %d", res.Opened, res.Refused)
	if cfg.Trickle > 0 {
		fmt.Fprintf(stdout, " closed %d last_close %v", res.Closed, res.LastClose)
	}
	if res.FirstErr != nil {
		fmt.Fprintf(stdout, " (first refusal: %v)", res.FirstErr)
	}
	fmt.Fprintln(stdout)
	return exitOK
}
