package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/distridata/distridata/storage"
)

func init() {
	register("node", command{summary: "run a storage node (stores replicas for daemons)", run: runNode})
}

// defaultNodeListen is a fixed loopback port, so a local cluster can be
// wired by hand; the daemon's default node list uses it.
const defaultNodeListen = "127.0.0.1:7400"

// nodeOptions are the flags of `distridata node` that are not Config
// fields as they stand.
type nodeOptions struct {
	tokenFile      string
	tlsCert        string
	tlsKey         string
	tlsClientCA    string
	insecurePublic bool
	drainTimeout   time.Duration
	logLevel       string
	readyFile      string
}

func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, opts, err := parseNode(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "distridata node: %v\n", err)
		return exitUsage
	}
	if cfg.Sync == storage.SyncNone {
		fmt.Fprintf(stderr, "distridata node: WARNING: --sync none acknowledges writes before they are on disk; a crash or power loss loses them (caches and benchmarks only)\n")
	}
	s, err := storage.Start(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "distridata node: %v\n", err)
		return exitUnavailable
	}
	fmt.Fprintf(stdout, "node %d listening on %s\n", cfg.ID, s.Addr())
	if err := writeReadyFile(opts.readyFile, readyInfo{Listen: s.Addr().String()}); err != nil {
		// Whoever waits for the file would wait forever: stop now.
		fmt.Fprintf(stderr, "distridata node: %v\n", err)
		drainNode(s, opts.drainTimeout, stderr)
		return exitUnavailable
	}
	// SIGHUP re-reads the TLS files; new handshakes use them.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	hctx, stopHUP := context.WithCancel(ctx)
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		reloadNodeOnHUP(hctx, hup, opts, s, cfg.Logger)
	}()
	defer func() { stopHUP(); <-reloaded }()
	return serveNode(ctx, s, opts.drainTimeout, stderr)
}

// reloadNodeOnHUP re-reads the node's certificate, key and client CA on
// each signal from hup until ctx ends, and gives them to s for later
// handshakes (connections already made keep theirs). Files that cannot
// be read or do not match are logged and counted (STATS
// tls_reload_failures) and the running ones stay. Without TLS there is
// nothing to re-read: the signal is logged, not fatal.
func reloadNodeOnHUP(ctx context.Context, hup <-chan os.Signal, opts nodeOptions, s *storage.Server, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if opts.tlsCert == "" {
			log.Info("SIGHUP: no TLS files to re-read (a node's other flags need a restart)")
			continue
		}
		cfg, err := serverTLS(opts.tlsCert, opts.tlsKey, opts.tlsClientCA)
		if err != nil {
			s.TLSReloadFailed(err)
			continue
		}
		_ = s.SetTLS(cfg) // logged and counted by the server
	}
}

// serveNode waits for ctx (drain and exit 0) or for the node to fail-stop
// after a disk error (exit exitDiskFault at once).
func serveNode(ctx context.Context, s *storage.Server, drainTimeout time.Duration, stderr io.Writer) int {
	select {
	case <-ctx.Done():
	case <-s.FailStop():
		return failStop(s, stderr)
	}
	drainNode(s, drainTimeout, stderr)
	return exitOK
}

// drainNode shuts s down within drainTimeout.
func drainNode(s *storage.Server, drainTimeout time.Duration, stderr io.Writer) {
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		// Reported, but the operator asked to stop: still a clean exit.
		// Acknowledged writes were synced when acknowledged.
		fmt.Fprintf(stderr, "distridata node: shutdown: %v\n", err)
	}
}

// failStop ends a node whose disk write or sync failed (for instance
// ENOSPC on the write-ahead log). Pebble cannot go on after a failed
// commit: its memory may already hold writes that never reached the
// disk, and a retried fsync proves nothing. So the node serves nothing
// more, not even the requests in flight (no drain), and exits as a crash
// would; a restart rebuilds the engine from what is on disk, which holds
// every write this node acknowledged (each was synced before its OK).
// Daemons see the node down and keep serving with the other replicas.
func failStop(s *storage.Server, stderr io.Writer) int {
	fmt.Fprintf(stderr, "distridata node: FATAL: disk write or sync failed, exiting: %v; "+
		"every acknowledged write is on disk: fix the disk (e.g. free space), then restart the node\n", s.FailErr())
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // closes every connection at once, dropping unwritten replies
	_ = s.Shutdown(ctx)
	return exitDiskFault
}

// parseNode turns flags into a validated storage.Config.
func parseNode(args []string, stderr io.Writer) (storage.Config, nodeOptions, error) {
	cfg := storage.DefaultConfig()
	cfg.Listen = defaultNodeListen
	opts := nodeOptions{drainTimeout: 10 * time.Second, logLevel: "info"}
	var id uint
	fs := flag.NewFlagSet("distridata node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "TCP address to serve daemons on (port 0 picks one)")
	fs.StringVar(&cfg.Dir, "dir", cfg.Dir, "data directory (pebble engine)")
	fs.StringVar(&cfg.Engine, "engine", cfg.Engine, "storage engine: pebble (durable) or memory (lost on exit)")
	fs.StringVar(&cfg.Sync, "sync", cfg.Sync, "always: acknowledge writes after fsync (group-committed); none: before (UNSAFE)")
	fs.UintVar(&id, "id", 1, "node ID, reported to daemons")
	fs.StringVar(&opts.tokenFile, "token-file", "", "file holding the token daemons must present in HELLO")
	fs.StringVar(&opts.tlsCert, "tls-cert", "", "PEM certificate: serve daemons over TLS only (with --tls-key); SIGHUP re-reads it, the key and the client CA")
	fs.StringVar(&opts.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&opts.tlsClientCA, "tls-client-ca", "", "PEM CA bundle: daemons must present a certificate it signed (mutual TLS)")
	fs.BoolVar(&opts.insecurePublic, "insecure-public", false, "allow a non-loopback --listen without a token")
	fs.DurationVar(&cfg.TombstoneGrace, "tombstone-grace", cfg.TombstoneGrace, "keep tombstones this long (0 = forever); must exceed hint and anti-entropy lag")
	fs.DurationVar(&cfg.GCInterval, "gc-interval", cfg.GCInterval, "how often to collect old tombstones (0 = never)")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", cfg.MaxInFlight, "requests in flight per connection before the node stops reading it")
	fs.DurationVar(&opts.drainTimeout, "drain-timeout", opts.drainTimeout, "on SIGINT/SIGTERM, how long to finish in-flight requests")
	fs.StringVar(&opts.logLevel, "log-level", opts.logLevel, "debug, info, warn or error")
	fs.StringVar(&opts.readyFile, "ready-file", "", "once listening, write the bound address (JSON) to this file, atomically (for supervisors that use --listen with port 0)")
	if err := fs.Parse(args); err != nil {
		return cfg, opts, err
	}
	if fs.NArg() > 0 {
		return cfg, opts, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if id > 1<<32-1 {
		return cfg, opts, fmt.Errorf("--id %d does not fit in 32 bits", id)
	}
	cfg.ID = uint32(id)
	var err error
	if cfg.Token, err = readToken(opts.tokenFile); err != nil {
		return cfg, opts, err
	}
	if opts.tlsCert != "" || opts.tlsKey != "" || opts.tlsClientCA != "" {
		if cfg.TLS, err = serverTLS(opts.tlsCert, opts.tlsKey, opts.tlsClientCA); err != nil {
			return cfg, opts, err
		}
	}
	if cfg.Token == "" && opts.tlsClientCA == "" && !opts.insecurePublic && !isLoopback(cfg.Listen) {
		return cfg, opts, fmt.Errorf("refusing to serve %s without a token: anyone who can reach it could overwrite or read every replica; use --token-file, or --insecure-public on a trusted network", cfg.Listen)
	}
	if cfg.Logger, err = newLogger(opts.logLevel, stderr); err != nil {
		return cfg, opts, err
	}
	return cfg, opts, cfg.Validate()
}
