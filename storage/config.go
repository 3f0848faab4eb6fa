package storage

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/distridata/distridata/protocol"
)

// Engine names accepted by Config.Engine.
const (
	EnginePebble = "pebble"
	EngineMemory = "memory"
)

// Sync modes accepted by Config.Sync.
const (
	// SyncAlways acknowledges a write only after the fsync that made it
	// durable; concurrent writes share one fsync (group commit).
	SyncAlways = "always"
	// SyncNone acknowledges before any fsync. UNSAFE: a power loss loses
	// acknowledged writes. For caches and benchmarks only.
	SyncNone = "none"
)

// Defaults. Each bounds something that input could otherwise grow.
const (
	// DefaultMaxInFlight requests per connection: deep enough to keep a
	// pipelined link busy across one fsync, small enough that one
	// connection cannot monopolise the committer.
	DefaultMaxInFlight = 1024
	// DefaultMaxInFlightBytes per connection (requests plus their replies
	// not yet written): a few large batches, not an unbounded backlog.
	DefaultMaxInFlightBytes = 32 << 20
	// DefaultDeadline applies when a request says 0: finite, so work for a
	// daemon that has given up is dropped eventually.
	DefaultDeadline = 5 * time.Second
	// DefaultTombstoneGrace must exceed the longest a hint or an
	// anti-entropy round can lag; a day is generous.
	DefaultTombstoneGrace = 24 * time.Hour
	// DefaultGCInterval: tombstone collection is background hygiene.
	DefaultGCInterval = time.Minute
	// DefaultGCBatch tombstones removed per engine call, so a large
	// collection never holds the write path for long.
	DefaultGCBatch = 1024
	// DefaultHandshakeTimeout: a connection must say HELLO this quickly,
	// so idle strangers do not hold sockets.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultWriteTimeout: a peer that stops reading its replies for this
	// long is dropped, releasing its in-flight budget.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultCommitQueue requests waiting for the committer across all
	// connections; beyond it readers block (TCP backpressure).
	DefaultCommitQueue = 8192
	// DefaultMaxGroupOps items in one commit group: large groups amortise
	// the fsync, bounded so one group's latency stays short.
	DefaultMaxGroupOps = 8192
	// DefaultScanLimit entries per RSCAN page when the request says 0.
	DefaultScanLimit = 1000
)

// Config configures a storage node server.
type Config struct {
	Listen string // TCP address; "127.0.0.1:0" picks a port
	Dir    string // data directory (pebble); unused by memory
	Engine string // EnginePebble (default when empty) or EngineMemory
	// Sync is SyncAlways (default when empty: ack only after fsync,
	// group-committed) or SyncNone (ack before sync: UNSAFE, caches and
	// benchmarks only).
	Sync  string
	ID    uint32 // node ID, reported in the HELLO reply
	Token string // if non-empty, HELLO must carry it, else UNAUTHORIZED + close
	// Limits bound every frame, key, value and batch received; zero value
	// is invalid (use protocol.DefaultLimits).
	Limits protocol.Limits
	// MaxInFlight requests per connection being processed or awaiting
	// their reply write; beyond it the reader stops reading. Must be > 0.
	MaxInFlight int
	// MaxInFlightBytes per connection (request frames plus encoded replies
	// not yet written); beyond it the reader stops reading. One request
	// is always admitted when nothing is in flight. Must be > 0.
	MaxInFlightBytes int
	// DefaultDeadline applies to requests that say 0 ms. Must be > 0.
	DefaultDeadline time.Duration
	// TombstoneGrace: tombstones whose version wall time is older than
	// this are collected. Zero never collects tombstones.
	TombstoneGrace time.Duration
	// GCInterval between tombstone collection passes. Zero disables GC.
	GCInterval time.Duration
	// GCBatch tombstones removed per engine call. Zero = DefaultGCBatch.
	GCBatch int
	// HandshakeTimeout for the HELLO frame. Zero = no timeout.
	HandshakeTimeout time.Duration
	// WriteTimeout for one reply write. Zero = no timeout.
	WriteTimeout time.Duration
	// CommitQueue is the number of write requests that may wait for the
	// committer across all connections. Must be > 0.
	CommitQueue int
	// MaxGroupOps caps the items in one commit group. Must be > 0.
	MaxGroupOps int
	// Pebble tunes the pebble engine; zero fields take their defaults.
	Pebble PebbleOptions
	Logger *slog.Logger     // nil = slog.Default()
	Clock  func() time.Time // nil = time.Now; injectable for tests
	// TLS, when not nil, makes Listen serve TLS only, with this server
	// config (a certificate; ClientCAs and ClientAuth for mutual TLS).
	// Nil means plain TCP.
	TLS *tls.Config
}

// DefaultConfig returns a config for a durable pebble node on a loopback
// ephemeral port, storing under ./data/node.
func DefaultConfig() Config {
	return Config{
		Listen:           "127.0.0.1:0",
		Dir:              "data/node",
		Engine:           EnginePebble,
		Sync:             SyncAlways,
		Limits:           protocol.DefaultLimits(),
		MaxInFlight:      DefaultMaxInFlight,
		MaxInFlightBytes: DefaultMaxInFlightBytes,
		DefaultDeadline:  DefaultDeadline,
		TombstoneGrace:   DefaultTombstoneGrace,
		GCInterval:       DefaultGCInterval,
		GCBatch:          DefaultGCBatch,
		HandshakeTimeout: DefaultHandshakeTimeout,
		WriteTimeout:     DefaultWriteTimeout,
		CommitQueue:      DefaultCommitQueue,
		MaxGroupOps:      DefaultMaxGroupOps,
	}
}

// Validate reports the first invalid field, wrapped in ErrBadConfig.
func (c Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return nil
}

func (c Config) validate() error {
	switch {
	case c.Listen == "":
		return fmt.Errorf("listen address is empty")
	case c.Engine != "" && c.Engine != EnginePebble && c.Engine != EngineMemory:
		return fmt.Errorf("engine %q is not %q or %q", c.Engine, EnginePebble, EngineMemory)
	case c.engine() == EnginePebble && c.Dir == "":
		return fmt.Errorf("data directory is empty (the pebble engine needs one)")
	case c.Sync != "" && c.Sync != SyncAlways && c.Sync != SyncNone:
		return fmt.Errorf("sync mode %q is not %q or %q", c.Sync, SyncAlways, SyncNone)
	case len(c.Token) > protocol.MaxTokenSize:
		return fmt.Errorf("token is longer than %d bytes", protocol.MaxTokenSize)
	case c.MaxInFlight <= 0 || c.MaxInFlightBytes <= 0:
		return fmt.Errorf("MaxInFlight %d and MaxInFlightBytes %d must be > 0", c.MaxInFlight, c.MaxInFlightBytes)
	case c.DefaultDeadline <= 0:
		return fmt.Errorf("DefaultDeadline %v must be > 0", c.DefaultDeadline)
	case c.TombstoneGrace < 0 || c.GCInterval < 0 || c.GCBatch < 0:
		return fmt.Errorf("TombstoneGrace, GCInterval and GCBatch must not be negative")
	case c.HandshakeTimeout < 0 || c.WriteTimeout < 0:
		return fmt.Errorf("HandshakeTimeout and WriteTimeout must not be negative")
	case c.CommitQueue <= 0 || c.MaxGroupOps <= 0:
		return fmt.Errorf("CommitQueue %d and MaxGroupOps %d must be > 0", c.CommitQueue, c.MaxGroupOps)
	}
	return c.Limits.Validate()
}

func (c Config) engine() string {
	if c.Engine == "" {
		return EnginePebble
	}
	return c.Engine
}

func (c Config) syncAlways() bool { return c.Sync != SyncNone }

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

func (c Config) clock() func() time.Time {
	if c.Clock == nil {
		return time.Now
	}
	return c.Clock
}

func (c Config) gcBatch() int {
	if c.GCBatch == 0 {
		return DefaultGCBatch
	}
	return c.GCBatch
}
