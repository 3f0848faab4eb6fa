package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/distridata/distridata/bench"
)

// requestsOnlyBound is the time bound of a run given --requests but no
// --duration: long enough for any sane count, short of running forever.
const requestsOnlyBound = time.Hour

func init() {
	register("bench", command{summary: "generate load and measure throughput and latency", run: runBench})
}

// benchFlags are the command-line forms of the Config fields that need
// parsing; the rest bind straight to the Config.
type benchFlags struct {
	target, dist, ratio, tokenFile string
	jsonOut                        bool
	w, r                           uint
	tls                            clientTLSFlags
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := bench.DefaultConfig()
	fs, bf := benchFlagSet(&cfg, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if err := bf.apply(&cfg, fs); err != nil {
		fmt.Fprintf(stderr, "distridata bench: %v\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "distridata bench: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if isTerminal(os.Stderr) {
		cfg.Progress = stderr
	}
	res, err := bench.Run(ctx, cfg)
	if errors.Is(err, bench.ErrInvalidConfig) {
		fmt.Fprintf(stderr, "distridata bench: %v\n", err)
		return exitUsage
	}
	if err != nil && res.Sent == 0 {
		fmt.Fprintf(stderr, "distridata bench: %v\n", err)
		return exitUnavailable
	}
	if perr := printResult(stdout, res, bf.jsonOut); perr != nil {
		fmt.Fprintf(stderr, "distridata bench: cannot print result: %v\n", perr)
		return exitUnavailable
	}
	if err != nil { // partial result printed; the run itself failed
		fmt.Fprintf(stderr, "distridata bench: %v\n", err)
		return exitUnavailable
	}
	return exitOK
}

func benchFlagSet(cfg *bench.Config, stderr io.Writer) (*flag.FlagSet, *benchFlags) {
	fs := flag.NewFlagSet("distridata bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bf := &benchFlags{target: string(cfg.Target), dist: string(cfg.Dist), ratio: "1:0"}
	fs.StringVar(&cfg.Addr, "addr", "", "server host:port (default "+bench.DefaultDistriDataAddr+", redis "+bench.DefaultRedisAddr+")")
	fs.StringVar(&bf.target, "target", bf.target, "distridata (daemon), node (a storage node, replica ops) or redis (RESP)")
	fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "connections")
	fs.IntVar(&cfg.Pipeline, "pipeline", cfg.Pipeline, "closed loop: requests in flight per connection")
	fs.Int64Var(&cfg.Keys, "keys", cfg.Keys, "key space size")
	fs.StringVar(&bf.dist, "dist", bf.dist, "key distribution: uniform or zipf")
	fs.Float64Var(&cfg.ZipfTheta, "zipf-theta", cfg.ZipfTheta, "zipf skew, in (0,1)")
	fs.IntVar(&cfg.ValueSize, "value-size", cfg.ValueSize, "SET value size in bytes")
	fs.StringVar(&bf.ratio, "ratio", bf.ratio, "SET:GET mix, e.g. 1:0, 1:1, 1:10")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time after warmup")
	fs.Int64Var(&cfg.Requests, "requests", 0, "stop after this many measured requests (0 = duration only)")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "load before measuring")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: total requests per second on a fixed schedule (0 = closed loop)")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", cfg.MaxInFlight, "open loop: requests in flight per connection")
	fs.UintVar(&bf.w, "w", 0, "distridata: write quorum per request (0 = server default)")
	fs.UintVar(&bf.r, "r", 0, "distridata: read quorum per request (0 = server default)")
	fs.DurationVar(&cfg.Deadline, "deadline", 0, "per-request deadline sent to the server (0 = server default)")
	fs.StringVar(&bf.tokenFile, "token-file", "", "file holding the auth token (HELLO token, or redis AUTH password)")
	bf.tls.register(fs)
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of keys, values and the mix")
	fs.BoolVar(&bf.jsonOut, "json", false, "print one JSON object instead of text")
	return fs, bf
}

// apply moves the parsed string flags into cfg; Run validates the rest.
func (bf *benchFlags) apply(cfg *bench.Config, fs *flag.FlagSet) error {
	cfg.Target, cfg.Dist = bench.Target(bf.target), bench.Dist(bf.dist)
	var err error
	if cfg.SetWeight, cfg.GetWeight, err = bench.ParseRatio(bf.ratio); err != nil {
		return err
	}
	if bf.w > 255 || bf.r > 255 {
		return fmt.Errorf("--w and --r must be small quorums, got %d and %d", bf.w, bf.r)
	}
	cfg.W, cfg.R = uint8(bf.w), uint8(bf.r)
	if cfg.Requests > 0 && !flagSet(fs, "duration") {
		cfg.Duration = requestsOnlyBound
	}
	if bf.tokenFile != "" {
		b, err := os.ReadFile(bf.tokenFile)
		if err != nil {
			return fmt.Errorf("cannot read token file: %w", err)
		}
		cfg.Token = []byte(strings.TrimRight(string(b), "\r\n"))
	}
	cfg.TLS, err = bf.tls.config()
	return err
}

func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

func printResult(w io.Writer, res bench.Result, asJSON bool) error {
	if !asJSON {
		return res.WriteText(w)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// isTerminal reports whether f is a character device: the live progress
// line goes there, never into a file or pipe that a script reads.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
