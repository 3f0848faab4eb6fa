package replica

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

const (
	// DefaultTimeout bounds a request whose ctx has no deadline: long
	// enough for a group-committed fsync on a loaded node, short enough
	// that a black-holed node cannot pin a client.
	DefaultTimeout = 2 * time.Second
	// DefaultMaxAsyncRepairs bounds background read repairs: they are a
	// best-effort extra, and a flood of stale replicas must not become a
	// flood of goroutines.
	DefaultMaxAsyncRepairs = 64
	// maxBatchItems is the u16 item count of an RBATCH frame.
	maxBatchItems = 1<<16 - 1
)

// Config tunes a Coordinator. Use DefaultConfig and change what you need.
// W, R, Timeout and ReadRepair can change later (Coordinator.SetTunables);
// the rest is fixed for the Coordinator's life.
type Config struct {
	// N is the number of replicas of every key; it must equal the ring's
	// Replicas(). Zero is invalid.
	N int
	// W is the default write quorum, in [1, N]: acknowledgements a PUT or
	// DEL waits for. Zero is invalid (a request's w=0 means "this default").
	W int
	// R is the default read quorum, in [1, N]. Zero is invalid.
	R int
	// Timeout is the budget of a request whose ctx has no deadline, and of
	// each background repair. Zero is invalid.
	Timeout time.Duration
	// Origin is this daemon's ID, the tie-break in every Version it
	// assigns. Daemons sharing storage nodes must use distinct origins;
	// zero is a valid ID.
	Origin uint32
	// ReadRepair makes reads write the newest version back to stale
	// replicas (before answering, and in the background for late answers).
	// False leaves stale replicas to hints and anti-entropy.
	ReadRepair bool
	// MaxAsyncRepairs bounds background repairs in flight; beyond it they
	// are dropped and counted. Zero disables background repairs.
	MaxAsyncRepairs int
	// OnMiss, when not nil, is called for each owner that missed a write
	// that may have landed (acknowledged, or outcome unknown): the owner
	// was down, refused, failed or timed out, also after the write
	// returned. The daemon keeps a hint for it (package repair). It runs
	// on replica callback or request goroutines with the request's lock
	// held: it must be quick, must not block and must not call the
	// Coordinator. The item's Key and Value are valid only during the call.
	OnMiss func(node string, it protocol.Item)
	// Logger receives the aggregated replica-failure lines (rate-limited).
	// Nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns N=3, W=2, R=2 with a 2 s timeout and read repair.
func DefaultConfig() Config {
	return Config{
		N: 3, W: 2, R: 2,
		Timeout:         DefaultTimeout,
		ReadRepair:      true,
		MaxAsyncRepairs: DefaultMaxAsyncRepairs,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.N < 1 || c.N > ring.MaxReplicas:
		return fmt.Errorf("%w: N=%d must be in [1, %d]", ErrConfig, c.N, ring.MaxReplicas)
	case c.W < 1 || c.W > c.N:
		return fmt.Errorf("%w: W=%d must be in [1, N=%d]", ErrConfig, c.W, c.N)
	case c.R < 1 || c.R > c.N:
		return fmt.Errorf("%w: R=%d must be in [1, N=%d]", ErrConfig, c.R, c.N)
	case c.Timeout <= 0:
		return fmt.Errorf("%w: Timeout=%v must be positive", ErrConfig, c.Timeout)
	case c.MaxAsyncRepairs < 0:
		return fmt.Errorf("%w: MaxAsyncRepairs=%d must not be negative", ErrConfig, c.MaxAsyncRepairs)
	}
	return nil
}
