package link

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/distridata/distridata/protocol"
)

// Config configures a Pool. Start from DefaultConfig; Validate rejects a
// zero in any field whose comment does not give zero a meaning.
type Config struct {
	// ConnsPerNode is the number of persistent connections per node. Two
	// let one writer fill a socket while the other flushes.
	ConnsPerNode int
	// QueueLen is the maximum number of requests, per connection, encoded
	// and waiting for the writer; their bytes are bounded by
	// MaxInFlightBytes too. A Send that finds every connection of a node
	// at a bound fails with ErrQueueFull.
	QueueLen int
	// MaxInFlight is the maximum number of requests per node admitted and
	// not yet completed (queued or written and awaiting a reply). A Send
	// over it waits within its ctx.
	MaxInFlight int
	// MaxInFlightBytes bounds the encoded bytes of those requests, per
	// node. It must hold at least one frame of Limits.MaxFrameSize.
	MaxInFlightBytes int
	// DialTimeout bounds the dial plus the HELLO round trip.
	DialTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait between reconnect attempts
	// of one connection. It doubles per failure, with jitter.
	BackoffMin, BackoffMax time.Duration
	// EjectAfter is the number of consecutive failures (dial or HELLO
	// failures, request deadlines) after which the node is marked down.
	EjectAfter int
	// Token is sent in HELLO; empty sends no token.
	Token string
	// Limits bound what is sent and what is accepted from nodes.
	Limits protocol.Limits
	// Coalesce is the maximum number of single-item requests (RPUT, RDEL,
	// RGET) of one connection that are sent as one RBATCH frame when they
	// wait for the same write; each still completes on its own. Coalesced
	// frames also stay under maxCoalesceBytes and under Seal's thresholds
	// (coalesce.go). 0 or 1 sends every request as its own frame.
	Coalesce int
	// Seal chooses which request frames are compressed and checksummed;
	// the zero value sends every frame plain.
	Seal protocol.SealOptions
	// OnStamp, when not nil, is called with the stamp of every reply and
	// HELLO reply, from link goroutines, so the daemon can merge its clock.
	// It must be quick and must not block.
	OnStamp func(protocol.ReplicaStamp)
	// Logger receives connection and health events; nil uses slog.Default.
	Logger *slog.Logger
	// TLS, when not nil, makes every connection to a node TLS with this
	// client config: RootCAs verifies the nodes, and an empty ServerName
	// is taken from the node address's host. Certificates here give
	// mutual TLS. Nil means plain TCP.
	TLS *tls.Config
}

// DefaultConfig returns the configuration the daemon uses unless told
// otherwise.
func DefaultConfig() Config {
	return Config{
		ConnsPerNode:     2,
		QueueLen:         4096,
		MaxInFlight:      8192,
		MaxInFlightBytes: 64 << 20,
		DialTimeout:      time.Second,
		BackoffMin:       50 * time.Millisecond,
		BackoffMax:       2 * time.Second,
		EjectAfter:       3,
		Limits:           protocol.DefaultLimits(),
		Coalesce:         defaultCoalesce,
		Seal:             protocol.DefaultSealOptions(),
	}
}

// maxConnsPerNode keeps a typo from opening thousands of sockets per node.
const maxConnsPerNode = 64

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if err := c.Limits.Validate(); err != nil {
		return fmt.Errorf("link: invalid Limits: %w", err)
	}
	switch {
	case c.ConnsPerNode < 1 || c.ConnsPerNode > maxConnsPerNode:
		return fmt.Errorf("link: ConnsPerNode %d must be in [1, %d]", c.ConnsPerNode, maxConnsPerNode)
	case c.QueueLen < 1:
		return fmt.Errorf("link: QueueLen %d must be at least 1", c.QueueLen)
	case c.MaxInFlight < 1:
		return fmt.Errorf("link: MaxInFlight %d must be at least 1", c.MaxInFlight)
	case c.MaxInFlightBytes < c.Limits.MaxFrameSize:
		return fmt.Errorf("link: MaxInFlightBytes %d must hold one frame of %d bytes", c.MaxInFlightBytes, c.Limits.MaxFrameSize)
	case c.DialTimeout <= 0:
		return errors.New("link: DialTimeout must be positive")
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("link: backoff [%v, %v] must be positive and ordered", c.BackoffMin, c.BackoffMax)
	case c.EjectAfter < 1:
		return fmt.Errorf("link: EjectAfter %d must be at least 1", c.EjectAfter)
	case len(c.Token) > protocol.MaxTokenSize:
		return fmt.Errorf("link: Token is %d bytes, over %d", len(c.Token), protocol.MaxTokenSize)
	case c.Coalesce < 0 || c.Coalesce > c.Limits.MaxBatchKeys:
		return fmt.Errorf("link: Coalesce %d must be in [0, Limits.MaxBatchKeys %d]", c.Coalesce, c.Limits.MaxBatchKeys)
	case c.Seal.CompressAbove < 0 || c.Seal.ChecksumAbove < 0:
		return errors.New("link: Seal thresholds must not be negative")
	}
	return nil
}
