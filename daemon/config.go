package daemon

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/distridata/distridata/link"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/repair"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/ring"
)

// Defaults, each with the reason for its value.
const (
	// DefaultListen binds loopback: a daemon is reachable from elsewhere
	// only when an operator says so (and, in cmd serve, sets a token).
	DefaultListen = "127.0.0.1:7379"
	// DefaultMaxConns stays well below the 20,000 open-file limit of the
	// machines we run on, leaving room for backend links and data files.
	DefaultMaxConns = 10000
	// DefaultIdleTimeout closes connections that send nothing and wait for
	// nothing for this long: pools reconnect cheaply, leaked sockets don't.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultFrameTimeout bounds how long a partial frame (or a missing
	// HELLO) may sit in the buffer: a slowloris client holds a connection
	// and up to a frame of memory for at most this long.
	DefaultFrameTimeout = 10 * time.Second
	// DefaultRequestTimeout applies when a request carries no deadline:
	// long enough for a fsync'ed quorum write, short enough that a stuck
	// replica does not hold a window slot for long.
	DefaultRequestTimeout = 2 * time.Second
	// DefaultConnWindow in-flight requests per connection keep a pipeline
	// of 16–64 busy with room to spare, yet bound one client's share.
	DefaultConnWindow = 128
	// DefaultConnWindowBytes bounds the copied request bytes one connection
	// may have in flight. It equals the default frame limit so that one
	// maximal frame always fits (a larger frame is admitted only alone).
	DefaultConnWindowBytes = protocol.DefaultMaxFrameSize
	// DefaultMaxInboundBuffered is one maximal frame plus 1 MiB of
	// pipelined small ones; beyond it a client that sends faster than its
	// window drains is flooding, and is cut off.
	DefaultMaxInboundBuffered = protocol.DefaultMaxFrameSize + 1<<20
	// DefaultOutputWindow is the queued reply bytes past which a connection
	// stops decoding: a few milliseconds of loopback or 10 Gb/s traffic,
	// so a reading client's socket never runs dry while the daemon waits,
	// yet a client that does not read holds little memory.
	DefaultOutputWindow = 4 << 20
	// DefaultOutputTimeout closes a connection whose queued replies make
	// no progress for this long: a client that stopped reading. Like
	// FrameTimeout, it bounds how long a stranger holds memory.
	DefaultOutputTimeout = 10 * time.Second
	// DefaultMaxOutboundBuffered is the output window plus one maximal
	// reply: the window admits a request while its queue is below
	// OutputWindow, so only a reply far larger than the replies before it
	// (estimates are learned, request.go) can pass this and close the
	// connection.
	DefaultMaxOutboundBuffered = DefaultOutputWindow + protocol.DefaultMaxFrameSize
	// DefaultMemoryBudget bounds the request bytes in flight over all
	// connections (plus requestOverhead each) and the replies queued for
	// slow readers: ~256 MiB of RAM at most.
	DefaultMemoryBudget = 256 << 20
	// DefaultSeedTimeout bounds how long Start waits for storage nodes'
	// clocks before serving; nodes that are down are skipped.
	DefaultSeedTimeout = 2 * time.Second
	// DefaultDrainTimeout is the drain deadline cmd serve gives Shutdown.
	DefaultDrainTimeout = 10 * time.Second
)

// requestOverhead is charged to the memory budget per request on top of
// its body: the goroutine stack and the request's bookkeeping. It makes the
// budget bound the number of requests too, not just their bytes.
const requestOverhead = 4 << 10

// Config configures a Daemon. Start validates it; DefaultConfig returns a
// complete configuration apart from Nodes.
type Config struct {
	// Listen is the client address, host:port. Port 0 picks a free port
	// (see Daemon.Addr). Empty means DefaultListen.
	Listen string
	// ID is the daemon's ID, the Origin of every version it assigns, and
	// the tie-break between daemons. Zero is rejected.
	ID uint32
	// Nodes are the storage nodes; the ring places keys on them.
	Nodes []ring.Node
	// Ring shapes the partition table; zero fields mean ring defaults.
	// Replicas is overridden by Replica.N.
	Ring ring.Config
	// Replica configures the replication core (N, W, R, timeout, read
	// repair). Its Origin is overridden by ID and its Logger by Logger.
	Replica replica.Config
	// Link configures the pooled connections to storage nodes. Its Logger
	// and OnStamp are set by Start.
	Link link.Config
	// Repair configures hinted handoff (on when Repair.Dir, the daemon's
	// data directory for hints, is set), anti-entropy and rebalancing.
	// Its WriteQuorum and Logger are set by Start; zero means defaults.
	Repair repair.Config
	// Limits are the sizes enforced on client frames. Zero value is
	// rejected; DefaultConfig sets protocol.DefaultLimits.
	Limits protocol.Limits
	// MaxConns is the number of client connections served at once; the
	// next one gets a BUSY reply and is closed. Zero means DefaultMaxConns.
	MaxConns int
	// IdleTimeout closes a connection that has neither sent anything nor
	// had a request in flight for this long. Zero means no idle timeout.
	IdleTimeout time.Duration
	// FrameTimeout closes a connection whose partial frame, or missing
	// HELLO, is older than this. Zero means DefaultFrameTimeout.
	FrameTimeout time.Duration
	// DefaultTimeout is a request's deadline when it carries none (its
	// DeadlineMs is 0). Zero means DefaultRequestTimeout.
	DefaultTimeout time.Duration
	// ConnWindow is the number of requests one connection may have in
	// flight; past it, decoding pauses. Zero means DefaultConnWindow.
	ConnWindow int
	// ConnWindowBytes bounds the copied request bytes one connection may
	// have in flight, in bytes; a larger request is admitted only when
	// nothing else is in flight. Zero means DefaultConnWindowBytes.
	ConnWindowBytes int
	// MaxInboundBuffered closes a connection whose unread input exceeds
	// this many bytes; at least Limits.MaxFrameSize. Zero means
	// DefaultMaxInboundBuffered.
	MaxInboundBuffered int
	// OutputWindow is the queued reply bytes (not yet sent, plus the
	// estimated replies of requests in flight) past which a connection
	// stops decoding requests until its client reads. Zero means
	// DefaultOutputWindow.
	OutputWindow int
	// OutputTimeout closes a connection whose queued replies make no
	// progress for this long. Zero means DefaultOutputTimeout.
	OutputTimeout time.Duration
	// MaxOutboundBuffered closes a connection whose unsent replies exceed
	// this many bytes; at least OutputWindow + Limits.MaxFrameSize, so a
	// maximal reply always fits. Zero means that sum or
	// DefaultMaxOutboundBuffered, whichever is larger.
	MaxOutboundBuffered int
	// MemoryBudget bounds the request bytes in flight over all
	// connections plus the reply bytes queued in their output buffers, in
	// bytes; above it requests get BUSY. Zero means DefaultMemoryBudget.
	MemoryBudget int64
	// Token, when non-empty, must be presented in HELLO (compared in
	// constant time). Empty means no authentication.
	Token string
	// SeedTimeout bounds the wait for storage nodes' clocks at Start.
	// Zero means DefaultSeedTimeout.
	SeedTimeout time.Duration
	// EventLoops is the number of gnet event loops. Zero means one per
	// CPU (gnet's multicore mode).
	EventLoops int
	// Admin is the HTTP address of /metrics, /healthz, /readyz, /explain
	// and /debug/pprof/, host:port (port 0 picks one, see AdminAddr).
	// Empty disables the admin listener. It has no authentication: keep it
	// on loopback or behind a firewall.
	Admin string
	// TLSListen, when set, is a second client address, host:port, served
	// over TLS with TLS (which must then hold a certificate). Its
	// connections share the limits, windows, budget and MaxConns of
	// Listen's. Empty means no TLS listener.
	TLSListen string
	// TLS is the server side of TLSListen: certificates, and ClientAuth
	// and ClientCAs for mutual TLS. Nil is valid only without TLSListen.
	TLS *tls.Config
	// Logger receives the daemon's logs. Nil means slog.Default().
	Logger *slog.Logger
	// Clock is the wall clock under the hybrid logical clock that stamps
	// versions. Nil means time.Now. It exists for clock-skew tests (the
	// faultclock build of cmd/distridata); serve never sets it otherwise.
	Clock func() time.Time
}

// DefaultConfig returns safe defaults; the caller supplies Nodes.
func DefaultConfig() Config {
	return Config{
		Listen:              DefaultListen,
		ID:                  1,
		Ring:                ring.DefaultConfig(),
		Replica:             replica.DefaultConfig(),
		Link:                link.DefaultConfig(),
		Repair:              repair.DefaultConfig(),
		Limits:              protocol.DefaultLimits(),
		MaxConns:            DefaultMaxConns,
		IdleTimeout:         DefaultIdleTimeout,
		FrameTimeout:        DefaultFrameTimeout,
		DefaultTimeout:      DefaultRequestTimeout,
		ConnWindow:          DefaultConnWindow,
		ConnWindowBytes:     DefaultConnWindowBytes,
		MaxInboundBuffered:  DefaultMaxInboundBuffered,
		MaxOutboundBuffered: DefaultMaxOutboundBuffered,
		OutputWindow:        DefaultOutputWindow,
		OutputTimeout:       DefaultOutputTimeout,
		MemoryBudget:        DefaultMemoryBudget,
		SeedTimeout:         DefaultSeedTimeout,
	}
}

// withDefaults replaces zero fields by their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	setDefault(&c.MaxConns, d.MaxConns)
	setDefault(&c.FrameTimeout, d.FrameTimeout)
	setDefault(&c.DefaultTimeout, d.DefaultTimeout)
	setDefault(&c.ConnWindow, d.ConnWindow)
	setDefault(&c.ConnWindowBytes, d.ConnWindowBytes)
	setDefault(&c.MaxInboundBuffered, max(d.MaxInboundBuffered, c.Limits.MaxFrameSize))
	setDefault(&c.OutputWindow, d.OutputWindow)
	setDefault(&c.OutputTimeout, d.OutputTimeout)
	setDefault(&c.MaxOutboundBuffered, max(d.MaxOutboundBuffered, c.OutputWindow+c.Limits.MaxFrameSize))
	setDefault(&c.MemoryBudget, d.MemoryBudget)
	setDefault(&c.SeedTimeout, d.SeedTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func setDefault[T comparable](p *T, d T) {
	var zero T
	if *p == zero {
		*p = d
	}
}

// Validate reports the first field that cannot work, after zero fields
// take their defaults. It does not check Nodes, Replica or Link: Start
// reports those through the ring, replica and link packages.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := c.validateFront(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// validateFront checks the fields the front end uses.
func (c Config) validateFront() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %q: %w", c.Listen, err)
	}
	if c.TLSListen != "" {
		if _, _, err := net.SplitHostPort(c.TLSListen); err != nil {
			return fmt.Errorf("TLS listen %q: %w", c.TLSListen, err)
		}
		if c.TLS == nil || (len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil) {
			return fmt.Errorf("TLS listen %q needs a TLS config with a certificate", c.TLSListen)
		}
	}
	if c.Admin != "" {
		if _, _, err := net.SplitHostPort(c.Admin); err != nil {
			return fmt.Errorf("admin %q: %w", c.Admin, err)
		}
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	switch {
	case c.ID == 0:
		return fmt.Errorf("ID must be nonzero")
	case c.MaxConns < 0, c.ConnWindow < 0, c.ConnWindowBytes < 0, c.OutputWindow < 0, c.MemoryBudget < 0, c.EventLoops < 0:
		return fmt.Errorf("MaxConns, ConnWindow, ConnWindowBytes, OutputWindow, MemoryBudget and EventLoops must not be negative")
	case c.IdleTimeout < 0 || c.FrameTimeout < 0 || c.DefaultTimeout < 0 || c.OutputTimeout < 0 || c.SeedTimeout < 0:
		return fmt.Errorf("timeouts must not be negative")
	case c.MaxInboundBuffered < c.Limits.MaxFrameSize:
		return fmt.Errorf("MaxInboundBuffered %d is below MaxFrameSize %d: a maximal frame could never be read", c.MaxInboundBuffered, c.Limits.MaxFrameSize)
	case c.MaxOutboundBuffered < c.OutputWindow+c.Limits.MaxFrameSize:
		return fmt.Errorf("MaxOutboundBuffered %d is below OutputWindow %d + MaxFrameSize %d: a maximal reply could close a client that reads", c.MaxOutboundBuffered, c.OutputWindow, c.Limits.MaxFrameSize)
	case len(c.Token) > protocol.MaxTokenSize:
		return fmt.Errorf("token longer than %d bytes", protocol.MaxTokenSize)
	}
	return nil
}
