package client

import (
	"crypto/tls"
	"fmt"
	"math"
	"time"

	"github.com/distridata/distridata/protocol"
)

// Defaults for Options, each with the reason for its size.
const (
	// DefaultMaxInFlight matches the depth a load generator pipelines on
	// one connection; the daemon sheds with BUSY beyond its own window.
	DefaultMaxInFlight = 1024
	// DefaultMaxQueuedBytes bounds requests encoded but not yet written:
	// enough for several maximum-size values, far below what a stalled
	// server could otherwise make this process hold.
	DefaultMaxQueuedBytes = 64 << 20
	// DefaultDialTimeout covers a TCP connect and the HELLO round trip.
	DefaultDialTimeout = 2 * time.Second
	// DefaultTimeout bounds a call whose context has no deadline, so that a
	// silent server never leaks a caller or a window slot.
	DefaultTimeout = 5 * time.Second

	// maxInFlightLimit keeps the pending table and the window channel
	// small; a deeper pipeline belongs on more connections (see Pool).
	maxInFlightLimit = 1 << 16
	// deadlineGrace lets the server's own TIMEOUT reply, which names what
	// happened, arrive before the local wait for a WithDeadline call ends.
	deadlineGrace = 50 * time.Millisecond
)

// Options configure a Conn (and every Conn of a Pool). Start from
// DefaultOptions; in Dial a zero numeric field takes its default, while
// a zero Seal means "never compress or checksum".
type Options struct {
	// Token is sent in HELLO; empty for a server without auth. At most
	// protocol.MaxTokenSize bytes.
	Token string
	// MaxInFlight is the window of outstanding requests per Conn (default
	// 1024). A call waits, within its context, for a slot. A call that is
	// cancelled or times out frees its slot at once, so a server may see
	// more than MaxInFlight requests of a Conn whose calls time out.
	MaxInFlight int
	// MaxQueuedBytes bounds the bytes of requests encoded but not yet
	// written to the socket (default 64 MiB). A call waits, within its
	// context, for room; a frame larger than this is sent alone.
	MaxQueuedBytes int
	// DialTimeout bounds the connect and the HELLO exchange (default 2s).
	DialTimeout time.Duration
	// Timeout bounds the wait for the reply of a call whose context has
	// no deadline (default 5s), from when the call gets its window slot;
	// the wait for the slot is bounded by the context only. The deadline
	// in force is also sent to the server in milliseconds.
	Timeout time.Duration
	// Seal says which request frames are compressed and checksummed
	// (default protocol.DefaultSealOptions(); zero disables both).
	Seal protocol.SealOptions
	// TLS, when not nil, makes the connection TLS with this config (the
	// daemon's --tls-listen address): RootCAs verifies the daemon (nil =
	// the system roots), an empty ServerName is taken from the address's
	// host, and Certificates answer a daemon that requires mutual TLS.
	// The handshake counts against DialTimeout. Nil means plain TCP.
	TLS *tls.Config

	// noYield turns off the yield before each flush; tests use it to
	// measure what the yield buys.
	noYield bool
}

// DefaultOptions returns the options used when nothing is configured.
func DefaultOptions() Options {
	return Options{
		MaxInFlight:    DefaultMaxInFlight,
		MaxQueuedBytes: DefaultMaxQueuedBytes,
		DialTimeout:    DefaultDialTimeout,
		Timeout:        DefaultTimeout,
		Seal:           protocol.DefaultSealOptions(),
	}
}

// withDefaults fills zero numeric fields with their defaults.
func (o Options) withDefaults() Options {
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.MaxQueuedBytes == 0 {
		o.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// Validate reports the first field out of range. Zero fields are valid:
// Dial replaces them with defaults.
func (o Options) Validate() error {
	switch {
	case len(o.Token) > protocol.MaxTokenSize:
		return fmt.Errorf("%w: Token is %d bytes, the limit is %d", ErrBadOptions, len(o.Token), protocol.MaxTokenSize)
	case o.MaxInFlight < 0 || o.MaxInFlight > maxInFlightLimit:
		return fmt.Errorf("%w: MaxInFlight %d must be in [1, %d] (0 = default)", ErrBadOptions, o.MaxInFlight, maxInFlightLimit)
	case o.MaxQueuedBytes < 0:
		return fmt.Errorf("%w: MaxQueuedBytes %d is negative", ErrBadOptions, o.MaxQueuedBytes)
	case o.DialTimeout < 0:
		return fmt.Errorf("%w: DialTimeout %v is negative", ErrBadOptions, o.DialTimeout)
	case o.Timeout < 0:
		return fmt.Errorf("%w: Timeout %v is negative", ErrBadOptions, o.Timeout)
	case o.Seal.CompressAbove < 0 || o.Seal.ChecksumAbove < 0:
		return fmt.Errorf("%w: Seal thresholds must not be negative", ErrBadOptions)
	}
	return nil
}

// CallOption adjusts one call.
type CallOption func(*callOpts)

type callOpts struct {
	quorum   int
	deadline time.Duration
}

// WithQuorum sets W for writes or R for reads (0 = the server's default).
// The server checks it against N; outside 0..255 it is refused locally.
func WithQuorum(n int) CallOption { return func(o *callOpts) { o.quorum = n } }

// WithDeadline sets the deadline sent on the wire (in ms, rounded up) and
// bounds the local wait to d plus a small grace for the reply to travel
// (the context's deadline still applies if it is earlier). d <= 0 means
// no override: the deadline in force is the context's, or Options.Timeout.
func WithDeadline(d time.Duration) CallOption { return func(o *callOpts) { o.deadline = d } }

// applyCallOpts allocates only when options are given: the pointer
// handed to an option escapes, so the common call without any must not
// make one.
func applyCallOpts(os []CallOption) callOpts {
	if len(os) == 0 {
		return callOpts{}
	}
	co := new(callOpts)
	for _, o := range os {
		if o != nil {
			o(co)
		}
	}
	return *co
}

// wireOptions checks the quorum and converts d to whole milliseconds,
// rounded up so that a sub-millisecond budget is not sent as "default".
func wireOptions(quorum int, d time.Duration) (protocol.Options, error) {
	if quorum < 0 || quorum > math.MaxUint8 {
		return protocol.Options{}, protocol.ErrBadQuorum
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	ms = min(max(ms, 1), math.MaxUint32)
	return protocol.Options{Quorum: uint8(quorum), DeadlineMs: uint32(ms)}, nil
}
