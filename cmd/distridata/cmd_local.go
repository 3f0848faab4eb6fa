package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/ring"
	"github.com/distridata/distridata/storage"
)

func init() {
	register("local", command{summary: "run a daemon and its storage nodes in one process (the embedded default)", run: runLocal})
}

// localMaxNodes keeps a typo from starting hundreds of engines.
const localMaxNodes = 16

// localOptions are the flags of `distridata local`.
type localOptions struct {
	dir, listen, admin, engine, sync, tokenFile, logLevel string
	nodes                                                 int
	drainTimeout                                          time.Duration
	// The TLS listener, as serve's flags of the same names.
	tlsListen, tlsCert, tlsKey, tlsClientCA string
}

func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseLocal(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "distridata local: %v\n", err)
		return exitUsage
	}
	token, err := readToken(o.tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "distridata local: %v\n", err)
		return exitUsage
	}
	if token == "" && !isLoopback(o.listen) {
		fmt.Fprintf(stderr, "distridata local: refusing to serve %s without a token: use --token-file\n", o.listen)
		return exitUsage
	}
	if o.tlsListen != "" && token == "" && o.tlsClientCA == "" && !isLoopback(o.tlsListen) {
		fmt.Fprintf(stderr, "distridata local: refusing to serve TLS on %s without client auth: use --token-file or --tls-client-ca\n", o.tlsListen)
		return exitUsage
	}
	tlsCfg, err := o.serverTLS()
	if err != nil {
		fmt.Fprintf(stderr, "distridata local: %v\n", err)
		return exitUsage
	}
	if o.admin != "" && !isLoopback(o.admin) {
		// The admin listener has no authentication, and local has no
		// --insecure-public: it is for one machine.
		fmt.Fprintf(stderr, "distridata local: refusing to serve admin on %s: it has no authentication; bind loopback\n", o.admin)
		return exitUsage
	}
	log, err := newLogger(o.logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "distridata local: %v\n", err)
		return exitUsage
	}
	if o.sync == storage.SyncNone {
		fmt.Fprintf(stderr, "distridata local: WARNING: --sync none acknowledges writes before they are on disk (caches and benchmarks only)\n")
	}
	lc := &localCluster{}
	defer lc.stop(o.drainTimeout, stderr)
	members, err := lc.startNodes(o, token, log)
	if err != nil {
		fmt.Fprintf(stderr, "distridata local: %v\n", err)
		return exitUnavailable
	}
	for i, m := range members {
		fmt.Fprintf(stdout, "node %s listening on %s (%s)\n", m.ID, m.Addr, lc.dirs[i])
	}
	cfg := localDaemonConfig(o, members, token)
	cfg.Logger = log
	cfg.Admin = o.admin
	cfg.TLSListen, cfg.TLS = o.tlsListen, tlsCfg
	if lc.d, err = daemon.Start(cfg); err != nil {
		fmt.Fprintf(stderr, "distridata local: %v\n", err)
		return startExit(err)
	}
	if a := lc.d.AdminAddr(); a != "" {
		fmt.Fprintf(stdout, "admin listening on %s\n", a)
	}
	if a := lc.d.TLSAddr(); a != "" {
		fmt.Fprintf(stdout, "TLS listening on %s\n", a)
	}
	// SIGHUP re-reads the TLS files, as serve's does.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	hctx, stopHUP := context.WithCancel(ctx)
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		lc.reloadTLSOnHUP(hctx, hup, o, cfg)
	}()
	defer func() { stopHUP(); <-reloaded }() // before the deferred stop
	fmt.Fprintf(stdout, "distridata serving on %s (N=%d W=%d R=%d)\n", lc.d.Addr(), cfg.Replica.N, cfg.Replica.W, cfg.Replica.R)
	<-ctx.Done()
	return exitOK // the deferred stop drains the daemon, then the nodes
}

// serverTLS is the TLS listener's config from the files, or nil without
// --tls-listen; the files without it are an error, as in serve.
func (o localOptions) serverTLS() (*tls.Config, error) {
	if o.tlsListen == "" {
		if o.tlsCert != "" || o.tlsKey != "" || o.tlsClientCA != "" {
			return nil, errors.New("--tls-cert, --tls-key and --tls-client-ca need --tls-listen")
		}
		return nil, nil
	}
	return serverTLS(o.tlsCert, o.tlsKey, o.tlsClientCA)
}

// reloadTLSOnHUP re-reads the TLS files on each signal from hup until ctx
// ends and reloads the daemon (started with cfg) with them; files that
// do not load are a failed reload, logged and counted by the daemon.
func (lc *localCluster) reloadTLSOnHUP(ctx context.Context, hup <-chan os.Signal, o localOptions, cfg daemon.Config) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		next := cfg
		var err error
		if next.TLS, err = o.serverTLS(); err != nil {
			lc.d.ReloadFailed(err)
			continue
		}
		_ = lc.d.Reload(next) // logged and counted by the daemon
	}
}

func parseLocal(args []string, stderr io.Writer) (localOptions, error) {
	o := localOptions{drainTimeout: daemon.DefaultDrainTimeout}
	fs := flag.NewFlagSet("distridata local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dir, "dir", "./data", "data directory; node I stores under DIR/node-I")
	fs.StringVar(&o.listen, "listen", daemon.DefaultListen, "client address host:port")
	fs.StringVar(&o.admin, "admin", defaultAdminAddr, "admin HTTP address for /metrics, /healthz, /readyz, /explain, /debug/pprof (\"\" disables; loopback only)")
	fs.IntVar(&o.nodes, "nodes", 3, "storage nodes to run (N is min(3, nodes))")
	fs.StringVar(&o.engine, "engine", storage.EnginePebble, "storage engine: pebble (durable) or memory (lost on exit)")
	fs.StringVar(&o.sync, "sync", storage.SyncAlways, "always: acknowledge writes after fsync (group-committed); none: before (UNSAFE)")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the token clients and nodes must present")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", o.drainTimeout, "on SIGINT/SIGTERM, how long to finish in-flight requests")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.tlsListen, "tls-listen", "", "second client address host:port, served over TLS (needs --tls-cert and --tls-key)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate (chain) of the TLS listener; SIGHUP re-reads it, the key and the client CA")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of the TLS listener")
	fs.StringVar(&o.tlsClientCA, "tls-client-ca", "", "PEM CA bundle: TLS clients must present a certificate it signed (mutual TLS)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.nodes < 1 || o.nodes > localMaxNodes:
		return o, fmt.Errorf("--nodes %d must be in [1, %d]", o.nodes, localMaxNodes)
	}
	return o, nil
}

// localDaemonConfig is N=min(3, nodes), W and R a majority of N (2 of 3).
func localDaemonConfig(o localOptions, members []ring.Node, token string) daemon.Config {
	cfg := daemon.DefaultConfig()
	cfg.Listen = o.listen
	cfg.Nodes = members
	n := min(3, len(members))
	cfg.Replica.N, cfg.Replica.W, cfg.Replica.R = n, n/2+1, n/2+1
	cfg.Token = token
	cfg.Link.Token = token
	if o.engine == storage.EnginePebble { // a memory cluster keeps no durable state, hints included
		cfg.Repair.Dir = filepath.Join(o.dir, "daemon")
	}
	return cfg
}

// localCluster owns the nodes and the daemon that runLocal started.
type localCluster struct {
	nodes []*storage.Server
	dirs  []string
	d     *daemon.Daemon
}

// startNodes starts o.nodes storage nodes on loopback ports, IDs 1..N,
// each in its own zone so replicas land on distinct nodes.
func (lc *localCluster) startNodes(o localOptions, token string, log *slog.Logger) ([]ring.Node, error) {
	var members []ring.Node
	for i := 1; i <= o.nodes; i++ {
		cfg := storage.DefaultConfig()
		cfg.Listen = "127.0.0.1:0"
		cfg.Dir = filepath.Join(o.dir, "node-"+strconv.Itoa(i))
		cfg.Engine, cfg.Sync = o.engine, o.sync
		cfg.ID = uint32(i)
		cfg.Token = token
		cfg.Logger = log.With("node", i)
		s, err := storage.Start(cfg)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		lc.nodes = append(lc.nodes, s)
		lc.dirs = append(lc.dirs, cfg.Dir)
		id := strconv.Itoa(i)
		members = append(members, ring.Node{ID: id, Addr: s.Addr().String(), Zone: "z" + id, Weight: 1})
	}
	return members, nil
}

// stop drains the daemon, then stops the nodes, all within timeout.
func (lc *localCluster) stop(timeout time.Duration, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if lc.d != nil {
		if err := lc.d.Shutdown(ctx); err != nil {
			fmt.Fprintf(stderr, "distridata local: drain cut short: %v\n", err)
		}
	}
	for i, s := range lc.nodes {
		if err := s.Shutdown(ctx); err != nil {
			fmt.Fprintf(stderr, "distridata local: node %d: %v\n", i+1, err)
		}
	}
}
