package bench

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Target is the dialect the generator speaks.
type Target string

const (
	TargetDistriData Target = "distridata" // daemon client protocol: PUT/GET
	TargetNode       Target = "node"       // storage node replica ops: RPUT/RGET
	TargetRedis      Target = "redis"      // RESP SET/GET (redis-server, twemproxy)
)

// Dist is how keys are drawn from the key space.
type Dist string

const (
	DistUniform Dist = "uniform"
	DistZipf    Dist = "zipf" // YCSB-style zipfian: key 0 is the hottest
)

// Bounds that keep one run from exhausting the machine.
const (
	// MaxConns stays well under the open-file limit of 20,000 (DESIGN §11).
	MaxConns = 10000
	// MaxPipeline bounds the closed-loop window; deeper pipelines measure
	// buffering, not the server.
	MaxPipeline = 4096
	// MaxInFlightCap bounds the open-loop backlog per connection.
	MaxInFlightCap = 1 << 16
	// MaxKeys is what the 12-digit key format can name.
	MaxKeys = 1_000_000_000_000
	// MaxZipfKeys bounds the O(keys) zeta precomputation (~1 s at 1e8).
	MaxZipfKeys = 100_000_000
	// MaxValueSize matches the protocol's default value limit.
	MaxValueSize = 8 << 20
)

// Default addresses per target, used when Addr is empty.
const (
	DefaultDistriDataAddr = "127.0.0.1:7379"
	DefaultRedisAddr      = "127.0.0.1:6379"
)

// Config is one load run. Every field says its unit and what zero means.
type Config struct {
	Addr   string // host:port; empty = the target's default address
	Target Target // dialect

	Conns    int // connections (each with one writer and one reader goroutine)
	Pipeline int // closed loop: requests in flight per connection

	Keys      int64   // key space size; keys are "key:" + 12 zero-padded digits
	Dist      Dist    // key distribution
	ZipfTheta float64 // zipf skew in (0,1); 0.99 as in YCSB
	ValueSize int     // bytes per SET value

	// SetWeight:GetWeight is the operation mix, as in "--ratio 1:1".
	SetWeight, GetWeight int

	// Duration is the measured time after Warmup, and the hard time bound
	// of the run even when Requests is set. Must be > 0.
	Duration time.Duration
	// Requests stops the run after this many measured requests are sent
	// (over all connections); 0 = no count limit.
	Requests int64
	Warmup   time.Duration // load before measuring; 0 = none

	// Rate > 0 selects the open loop: this many requests per second in
	// total, each with an intended send time; 0 = closed loop.
	Rate float64
	// MaxInFlight bounds the open-loop backlog per connection; a full
	// window delays sends, and the delay shows in the latency.
	MaxInFlight int

	W, R     uint8         // distridata: per-request quorum; 0 = server default
	Deadline time.Duration // per-request deadline on the wire; 0 = server default
	// Partitions is the partition count for the node target (power of 2).
	Partitions uint32

	Token []byte // HELLO token, or RESP AUTH password; empty = none
	Seed  uint64 // seeds keys, values and the op mix; same seed, same stream
	// TLS, when not nil, makes every connection TLS with this config
	// (the handshake is part of the dial, not measured); nil = plain TCP.
	TLS *tls.Config

	DialTimeout  time.Duration // per connection, handshake included
	DrainTimeout time.Duration // wait for in-flight replies after the end

	// Progress receives a live line each ProgressInterval; nil = quiet.
	Progress         io.Writer
	ProgressInterval time.Duration
}

// DefaultConfig mirrors redis-benchmark's defaults where they exist.
func DefaultConfig() Config {
	return Config{
		Target:           TargetDistriData,
		Conns:            50,
		Pipeline:         1,
		Keys:             100000,
		Dist:             DistUniform,
		ZipfTheta:        0.99,
		ValueSize:        100,
		SetWeight:        1,
		GetWeight:        0,
		Duration:         10 * time.Second,
		MaxInFlight:      1024,
		Partitions:       1 << 16,
		Seed:             1,
		DialTimeout:      5 * time.Second,
		DrainTimeout:     2 * time.Second,
		ProgressInterval: time.Second,
	}
}

// Validate reports the first invalid field, wrapped in ErrInvalidConfig.
func (c Config) Validate() error {
	if err := c.validate(); err != "" {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, err)
	}
	return nil
}

func (c Config) validate() string {
	switch {
	case c.Target != TargetDistriData && c.Target != TargetNode && c.Target != TargetRedis:
		return fmt.Sprintf("target %q is not distridata, node or redis", c.Target)
	case c.Addr != "" && !validAddr(c.Addr):
		return fmt.Sprintf("addr %q is not host:port", c.Addr)
	case c.Conns < 1 || c.Conns > MaxConns:
		return fmt.Sprintf("conns %d not in [1, %d]", c.Conns, MaxConns)
	case c.Pipeline < 1 || c.Pipeline > MaxPipeline:
		return fmt.Sprintf("pipeline %d not in [1, %d]", c.Pipeline, MaxPipeline)
	case c.Keys < 1 || c.Keys > MaxKeys:
		return fmt.Sprintf("keys %d not in [1, %d]", c.Keys, int64(MaxKeys))
	case c.Dist != DistUniform && c.Dist != DistZipf:
		return fmt.Sprintf("dist %q is not uniform or zipf", c.Dist)
	case c.Dist == DistZipf && (c.ZipfTheta <= 0 || c.ZipfTheta >= 1):
		return fmt.Sprintf("zipf theta %g not in (0, 1)", c.ZipfTheta)
	case c.Dist == DistZipf && c.Keys > MaxZipfKeys:
		return fmt.Sprintf("zipf keys %d over %d", c.Keys, MaxZipfKeys)
	case c.ValueSize < 0 || c.ValueSize > MaxValueSize:
		return fmt.Sprintf("value size %d not in [0, %d]", c.ValueSize, MaxValueSize)
	case c.SetWeight < 0 || c.GetWeight < 0 || c.SetWeight+c.GetWeight == 0:
		return fmt.Sprintf("ratio %d:%d needs non-negative weights, not both 0", c.SetWeight, c.GetWeight)
	case c.Duration <= 0:
		return "duration must be > 0 (it bounds every run)"
	case c.Requests < 0 || c.Warmup < 0 || c.Rate < 0 || c.Deadline < 0:
		return "requests, warmup, rate and deadline must not be negative"
	case c.Rate > 0 && (c.MaxInFlight < 1 || c.MaxInFlight > MaxInFlightCap):
		return fmt.Sprintf("max in flight %d not in [1, %d]", c.MaxInFlight, MaxInFlightCap)
	case c.Target != TargetDistriData && (c.W != 0 || c.R != 0):
		return "w and r apply to the distridata target only"
	case c.Target == TargetNode && (c.Partitions == 0 || c.Partitions&(c.Partitions-1) != 0):
		return fmt.Sprintf("partitions %d is not a power of 2", c.Partitions)
	case c.DialTimeout <= 0 || c.DrainTimeout <= 0:
		return "dial and drain timeouts must be > 0"
	case c.Progress != nil && c.ProgressInterval <= 0:
		return "progress interval must be > 0"
	}
	return ""
}

func validAddr(a string) bool {
	_, port, err := net.SplitHostPort(a)
	return err == nil && port != ""
}

// address is Addr or the target's default.
func (c Config) address() string {
	switch {
	case c.Addr != "":
		return c.Addr
	case c.Target == TargetRedis:
		return DefaultRedisAddr
	default:
		return DefaultDistriDataAddr
	}
}

// openLoop reports whether requests follow a fixed-rate schedule.
func (c Config) openLoop() bool { return c.Rate > 0 }

// window is the most requests one connection keeps in flight.
func (c Config) window() int {
	if c.openLoop() {
		return c.MaxInFlight
	}
	return c.Pipeline
}

// ParseRatio parses "SET:GET" weights such as "1:0", "1:1" or "1:10".
func ParseRatio(s string) (set, get int, err error) {
	a, b, ok := strings.Cut(s, ":")
	if ok {
		set, err = strconv.Atoi(a)
		if err == nil {
			get, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || set < 0 || get < 0 || set+get == 0 {
		return 0, 0, fmt.Errorf("%w: ratio %q is not SET:GET with non-negative weights", ErrInvalidConfig, s)
	}
	return set, get, nil
}
