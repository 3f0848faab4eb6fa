package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/ring"
)

func init() {
	register("serve", command{summary: "run the daemon: clients in front, storage nodes behind", run: runServe})
}

// serveOptions are serve's settings. A config file (TOML, see
// config_file.go) uses the flag names as keys, plus tables for the rest
// of daemon.Config; flags given on the command line override it.
type serveOptions struct {
	Config         string        `toml:"-"`
	Admin          string        `toml:"admin"`
	Listen         string        `toml:"listen"`
	Nodes          string        `toml:"nodes"`
	ID             uint          `toml:"id"`
	N              int           `toml:"n"`
	W              int           `toml:"w"`
	R              int           `toml:"r"`
	TokenFile      string        `toml:"token-file"`
	NodeTokenFile  string        `toml:"node-token-file"`
	InsecurePublic bool          `toml:"insecure-public"`
	MaxConns       int           `toml:"max-conns"`
	Timeout        time.Duration `toml:"timeout"`
	DrainTimeout   time.Duration `toml:"drain-timeout"`
	LogLevel       string        `toml:"log-level"`
	DataDir        string        `toml:"data-dir"`
	ReadyFile      string        `toml:"-"`
	TLSListen      string        `toml:"-"`
	TLSCert        string        `toml:"-"`
	TLSKey         string        `toml:"-"`
	TLSClientCA    string        `toml:"-"`
	NodeTLSCA      string        `toml:"-"`
	NodeTLSCert    string        `toml:"-"`
	NodeTLSKey     string        `toml:"-"`
	// Members, from [[node]] tables, replaces Nodes when set: it carries
	// zones and weights.
	Members []ring.Node `toml:"-"`
	// D holds every other knob; the fields above override theirs.
	D daemon.Config `toml:"-"`
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseServe(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "distridata serve: %v\n", err)
		return exitUsage
	}
	cfg, err := opts.daemonConfig(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "distridata serve: %v\n", err)
		return exitUsage
	}
	d, err := daemon.Start(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "distridata serve: %v\n", err)
		return startExit(err)
	}
	if a := d.AdminAddr(); a != "" {
		fmt.Fprintf(stdout, "admin listening on %s\n", a)
	}
	if a := d.TLSAddr(); a != "" {
		fmt.Fprintf(stdout, "TLS listening on %s\n", a)
	}
	ready := readyInfo{Listen: d.Addr(), TLS: d.TLSAddr(), Admin: d.AdminAddr()}
	if err := writeReadyFile(opts.ReadyFile, ready); err != nil {
		// Whoever waits for the file would wait forever: stop now.
		fmt.Fprintf(stderr, "distridata serve: %v\n", err)
		drain(d, opts.DrainTimeout, stderr)
		return exitUnavailable
	}
	// SIGHUP re-reads the config file (flags still win) and reloads; so
	// does finding the daemon behind the nodes' ring (see reloadLoop).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	behindTick := time.NewTicker(behindCheckInterval)
	defer behindTick.Stop()
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		reloadLoop(ctx, hup, behindTick.C, args, d)
	}()
	fmt.Fprintf(stdout, "distridata serving on %s\n", d.Addr())
	<-ctx.Done()
	code := drain(d, opts.DrainTimeout, stderr) // cancels a reload in progress
	<-reloaded
	return code
}

// behindCheckInterval is how often the daemon's behind counter is read:
// a daemon the nodes refuse fails every request, so minutes are too long,
// and each check that finds it rising re-reads the config file once.
const behindCheckInterval = 5 * time.Second

// reloader is what reloadLoop needs of the daemon.
type reloader interface {
	Reload(daemon.Config) error
	ReloadFailed(error)
	Behind() uint64
}

// maxReloadBackoff bounds the ticks between automatic reloads while the
// nodes keep refusing the daemon's ring (60 ticks of 5 s: 5 minutes).
const maxReloadBackoff = 60

// reloadLoop reloads d from args (and the config file they name) on each
// signal from hup, and on each tick that finds d's behind counter risen
// since the last: the storage nodes committed a ring this daemon does not
// route by, and the file may already list that membership (other daemons
// moved; a reload then catches up at the nodes' epoch). It runs until ctx
// ends. A config that cannot be read or is invalid is logged and counted
// by the daemon, which keeps running.
func reloadLoop(ctx context.Context, hup <-chan os.Signal, tick <-chan time.Time, args []string, d reloader) {
	behind := d.Behind()
	skip, backoff := 0, 1 // ticks to let pass before the next automatic reload
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		case <-tick:
			b := d.Behind()
			if b == behind {
				skip, backoff = 0, 1 // no new refusals: caught up
				continue
			}
			behind = b
			// Still refused after a reload: the file is stale too. Try
			// again after 1, 2, 4, ... ticks (at most maxReloadBackoff),
			// not at every tick, which logged and counted a reload each.
			if skip > 0 {
				skip--
				continue
			}
			skip, backoff = backoff, min(2*backoff, maxReloadBackoff)
		}
		o, err := parseServe(args, io.Discard)
		var cfg daemon.Config
		if err == nil {
			cfg, err = o.daemonConfig(io.Discard)
		}
		if err != nil {
			d.ReloadFailed(err)
			continue
		}
		_ = d.Reload(cfg) // logged and counted by the daemon
	}
}

// startExit is the exit code for a daemon that failed to start: usage
// for a configuration it refused, unavailable otherwise (a port in use).
func startExit(err error) int {
	if errors.Is(err, daemon.ErrConfig) {
		return exitUsage
	}
	return exitUnavailable
}

// drain shuts d down within timeout. A drain cut short by its deadline is
// reported but is still a clean exit: the operator asked to stop.
func drain(d *daemon.Daemon, timeout time.Duration, stderr io.Writer) int {
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := d.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "distridata: drain cut short: %v\n", err)
	}
	return exitOK
}

func defaultServeOptions() serveOptions {
	dc := daemon.DefaultConfig()
	return serveOptions{
		Listen: dc.Listen, ID: uint(dc.ID),
		N: dc.Replica.N, W: dc.Replica.W, R: dc.Replica.R,
		MaxConns: dc.MaxConns, Timeout: dc.DefaultTimeout,
		DrainTimeout: daemon.DefaultDrainTimeout, LogLevel: "info",
		DataDir: "./data/daemon", Admin: defaultAdminAddr,
		D: dc,
	}
}

// parseServe reads flags, then the config file if one is named, then
// re-applies the flags that were given so that they win.
func parseServe(args []string, stderr io.Writer) (serveOptions, error) {
	o := defaultServeOptions()
	fs := flag.NewFlagSet("distridata serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Config, "config", "", "TOML config file; its keys are these flags' names")
	fs.StringVar(&o.Listen, "listen", o.Listen, "client address host:port")
	fs.StringVar(&o.Admin, "admin", o.Admin, "admin HTTP address for /metrics, /healthz, /readyz, /explain, /debug/pprof (\"\" disables)")
	fs.StringVar(&o.Nodes, "nodes", "", "storage nodes as ID=ADDR,ID=ADDR,...")
	fs.UintVar(&o.ID, "id", o.ID, "daemon ID (nonzero; the tie-break of versions between daemons)")
	fs.IntVar(&o.N, "n", o.N, "replicas per key")
	fs.IntVar(&o.W, "w", o.W, "default write quorum")
	fs.IntVar(&o.R, "r", o.R, "default read quorum")
	fs.StringVar(&o.TokenFile, "token-file", "", "file holding the token clients must present")
	fs.StringVar(&o.TLSListen, "tls-listen", "", "second client address host:port, served over TLS (needs --tls-cert and --tls-key)")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "PEM certificate (chain) of the TLS listener")
	fs.StringVar(&o.TLSKey, "tls-key", "", "PEM private key of the TLS listener")
	fs.StringVar(&o.TLSClientCA, "tls-client-ca", "", "PEM CA bundle: TLS clients must present a certificate it signed (mutual TLS)")
	fs.StringVar(&o.NodeTLSCA, "node-tls-ca", "", "PEM CA bundle: reach storage nodes over TLS, verifying them with it")
	fs.StringVar(&o.NodeTLSCert, "node-tls-cert", "", "PEM client certificate for nodes that require mutual TLS (with --node-tls-key)")
	fs.StringVar(&o.NodeTLSKey, "node-tls-key", "", "PEM private key of --node-tls-cert")
	fs.StringVar(&o.NodeTokenFile, "node-token-file", "", "file holding the token storage nodes expect")
	fs.BoolVar(&o.InsecurePublic, "insecure-public", false, "allow a non-loopback --listen without a token")
	fs.IntVar(&o.MaxConns, "max-conns", o.MaxConns, "client connections served at once")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "deadline of requests that carry none")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "how long SIGTERM waits for in-flight requests")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
	fs.StringVar(&o.ReadyFile, "ready-file", "", "once every listener is bound, write their addresses (JSON: listen, tls, admin, pid) to this file, atomically (for supervisors that use port 0)")
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir, "the daemon's directory for hints of writes that owners missed (empty: no hints)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.Config == "" {
		return o, nil
	}
	given := map[string]string{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = f.Value.String() })
	file := o.Config
	o = defaultServeOptions()
	if err := loadConfigFile(file, &o); err != nil {
		return o, err
	}
	for name, v := range given {
		if err := fs.Set(name, v); err != nil {
			return o, err
		}
	}
	return o, nil
}

// daemonConfig turns options into a daemon.Config, refusing a public
// listener without a token.
func (o serveOptions) daemonConfig(stderr io.Writer) (daemon.Config, error) {
	cfg := o.D
	cfg.Listen = o.Listen
	cfg.Admin = o.Admin
	cfg.ID = uint32(o.ID)
	cfg.Replica.N, cfg.Replica.W, cfg.Replica.R = o.N, o.W, o.R
	cfg.MaxConns = o.MaxConns
	cfg.DefaultTimeout = o.Timeout
	cfg.Repair.Dir = o.DataDir
	var err error
	if cfg.Nodes = o.Members; len(o.Members) == 0 || o.Nodes != "" {
		if cfg.Nodes, err = parseNodes(o.Nodes); err != nil {
			return cfg, err
		}
	}
	if cfg.Token, err = readToken(o.TokenFile); err != nil {
		return cfg, err
	}
	if cfg.Link.Token, err = readToken(o.NodeTokenFile); err != nil {
		return cfg, err
	}
	if cfg.Token == "" && !o.InsecurePublic && !isLoopback(cfg.Listen) {
		return cfg, fmt.Errorf("refusing to serve %s without a token: use --token-file, or --insecure-public", cfg.Listen)
	}
	if cfg.TLSListen = o.TLSListen; o.TLSListen != "" || o.TLSCert != "" || o.TLSKey != "" || o.TLSClientCA != "" {
		if cfg.TLS, err = serverTLS(o.TLSCert, o.TLSKey, o.TLSClientCA); err != nil {
			return cfg, err
		}
		if o.TLSListen == "" {
			return cfg, errors.New("--tls-cert, --tls-key and --tls-client-ca need --tls-listen")
		}
	}
	if cfg.Link.TLS, err = nodeTLS(o.NodeTLSCA, o.NodeTLSCert, o.NodeTLSKey); err != nil {
		return cfg, err
	}
	if o.TLSListen != "" && cfg.Token == "" && o.TLSClientCA == "" && !o.InsecurePublic && !isLoopback(o.TLSListen) {
		return cfg, fmt.Errorf("refusing to serve TLS on %s without client auth: use --token-file or --tls-client-ca, or --insecure-public", o.TLSListen)
	}
	if cfg.Admin != "" && !o.InsecurePublic && !isLoopback(cfg.Admin) {
		return cfg, fmt.Errorf("refusing to serve admin on %s: it has no authentication; bind loopback, or --insecure-public", cfg.Admin)
	}
	if cfg.Logger, err = newLogger(o.LogLevel, stderr); err != nil {
		return cfg, err
	}
	cfg.Clock = faultClock(stderr) // nil outside the faultclock build
	return cfg, cfg.Check()
}

// parseNodes parses "ID=ADDR,ID=ADDR". Nodes share the default zone.
func parseNodes(s string) ([]ring.Node, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("--nodes is required (ID=ADDR,ID=ADDR,...)")
	}
	var nodes []ring.Node
	for _, part := range strings.Split(s, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("--nodes entry %q: want ID=ADDR", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("--nodes entry %q: %w", part, err)
		}
		nodes = append(nodes, ring.Node{ID: id, Addr: addr, Weight: 1})
	}
	return nodes, nil
}

// readToken reads a token file; surrounding whitespace (a trailing
// newline from an editor) is not part of the token.
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

// isLoopback reports whether host:port binds only a loopback interface.
// An empty host binds every interface.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
