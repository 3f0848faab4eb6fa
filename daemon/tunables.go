package daemon

import (
	"crypto/sha256"
	"crypto/subtle"
	"time"

	"github.com/distridata/distridata/protocol"
)

// tunables are the front end's settings that a reload may change: the
// limits, windows, budgets, timeouts and token that requests, wake-ups
// and sweeps read. A snapshot is immutable and sits behind frontend.tun,
// so the hot path takes no lock: an event loop loads it once per
// OnTraffic (and per accepted connection), a request keeps the one it
// was admitted under to its reply, and the sweeper loads it once per
// tick. Settings that size what is already built (listeners, event
// loops, worker pool, links, ring, N) are in Config only.
type tunables struct {
	limits          protocol.Limits
	maxConns        int
	idleTimeout     time.Duration // 0 = none
	frameTimeout    time.Duration
	defaultTimeout  time.Duration
	connWindow      int
	connWindowBytes int
	maxInbound      int
	maxOutbound     int
	outputWindow    int
	outputTimeout   time.Duration
	memoryBudget    int64
	// tokenHash is the SHA-256 of the token, so a HELLO is checked in
	// constant time without hashing the token again; hasToken is false
	// when no token is configured (no authentication).
	hasToken  bool
	tokenHash [sha256.Size]byte
}

// newTunables takes the live settings of cfg, which has its defaults
// applied and has been validated.
func newTunables(cfg Config) *tunables {
	t := &tunables{
		limits:          cfg.Limits,
		maxConns:        cfg.MaxConns,
		idleTimeout:     cfg.IdleTimeout,
		frameTimeout:    cfg.FrameTimeout,
		defaultTimeout:  cfg.DefaultTimeout,
		connWindow:      cfg.ConnWindow,
		connWindowBytes: cfg.ConnWindowBytes,
		maxInbound:      cfg.MaxInboundBuffered,
		maxOutbound:     cfg.MaxOutboundBuffered,
		outputWindow:    cfg.OutputWindow,
		outputTimeout:   cfg.OutputTimeout,
		memoryBudget:    cfg.MemoryBudget,
		hasToken:        cfg.Token != "",
	}
	if t.hasToken {
		t.tokenHash = sha256.Sum256([]byte(cfg.Token))
	}
	return t
}

// maxFrame is the frame limit for a connection: stricter before HELLO.
func (t *tunables) maxFrame(authed bool) int {
	if authed {
		return t.limits.MaxFrameSize
	}
	return t.limits.MaxPreAuthFrameSize
}

// tokenOK compares the presented token with the configured one in
// constant time. Hashing first makes the time independent of the
// lengths too.
func (t *tunables) tokenOK(tok []byte) bool {
	if !t.hasToken {
		return true
	}
	h := sha256.Sum256(tok)
	return subtle.ConstantTimeCompare(h[:], t.tokenHash[:]) == 1
}

// sweepInterval is a quarter of the shortest timeout the sweeper
// enforces, within [minSweep, maxSweep]: a deadline is enforced within
// 25% of its length.
func (t *tunables) sweepInterval() time.Duration {
	d := t.frameTimeout
	if t.idleTimeout > 0 {
		d = min(d, t.idleTimeout)
	}
	return min(max(d/4, minSweep), maxSweep)
}
