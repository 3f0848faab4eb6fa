package protocol

import (
	"sync/atomic"
	"time"
)

// Version orders the writes of one key: last writer wins by Version.
//
// TS is a hybrid logical clock timestamp: wall-clock milliseconds since the
// Unix epoch shifted left 16 bits, plus a 16-bit logical counter. It stays
// close to real time (useful to operators, and for tombstone grace periods)
// yet never goes backwards, and 48 bits of milliseconds last ~8900 years.
// Origin is the ID of the daemon that assigned TS: two daemons can pick the
// same TS, and the tie-break makes the order total. On the wire a Version
// is 12 bytes: TS (u64) then Origin (u32).
type Version struct {
	TS     uint64
	Origin uint32
}

// VersionSize is the encoded size of a Version.
const VersionSize = 12

// LogicalBits is the width of the logical counter in an HLC timestamp.
const LogicalBits = 16

// IsZero reports whether v is the zero version (no write ever).
func (v Version) IsZero() bool { return v == Version{} }

// Compare returns -1, 0 or +1 as v is older than, equal to, or newer than w.
func (v Version) Compare(w Version) int {
	switch {
	case v.TS < w.TS:
		return -1
	case v.TS > w.TS:
		return 1
	case v.Origin < w.Origin:
		return -1
	case v.Origin > w.Origin:
		return 1
	}
	return 0
}

// Newer reports whether v orders after w.
func (v Version) Newer(w Version) bool { return v.Compare(w) > 0 }

// WallTime is the wall-clock part of v's timestamp.
func (v Version) WallTime() time.Time { return time.UnixMilli(int64(v.TS >> LogicalBits)) }

func appendVersion(dst []byte, v Version) []byte {
	return appendU32(appendU64(dst, v.TS), v.Origin)
}

// Clock is a hybrid logical clock. Now never returns the same or a smaller
// timestamp twice, even if the wall clock jumps backwards; Observe merges a
// timestamp seen from a peer so that a lagging clock catches up. It is safe
// for concurrent use and lock-free. The zero value reads time.Now.
type Clock struct {
	last atomic.Uint64
	wall func() time.Time // injectable for tests of clock skew
}

// NewClock returns a clock reading wall (time.Now if nil).
func NewClock(wall func() time.Time) *Clock {
	if wall == nil {
		wall = time.Now
	}
	return &Clock{wall: wall}
}

// Now returns a new timestamp, greater than every timestamp this clock has
// returned or observed.
func (c *Clock) Now() uint64 {
	phys := uint64(c.wallMs()) << LogicalBits
	for {
		last := c.last.Load()
		next := max(phys, last+1)
		if c.last.CompareAndSwap(last, next) {
			return next
		}
	}
}

// wallMs reads the wall clock in Unix milliseconds.
func (c *Clock) wallMs() int64 {
	if c.wall == nil {
		// A Clock embedded by value in another struct never saw NewClock;
		// without this it would panic on its first write.
		return time.Now().UnixMilli()
	}
	return c.wall().UnixMilli()
}

// Observe merges a timestamp from a peer: later Now calls return more.
// It has no drift bound, on purpose: see "Versions and the clock" in the
// package doc (clamping would let a restarted daemon reuse old versions;
// Lead makes a runaway peer visible instead).
func (c *Clock) Observe(ts uint64) {
	for {
		last := c.last.Load()
		if ts <= last || c.last.CompareAndSwap(last, ts) {
			return
		}
	}
}

// Last returns the greatest timestamp issued or observed so far.
func (c *Clock) Last() uint64 { return c.last.Load() }

// Lead is how far the clock runs ahead of its wall clock: zero while the
// wall clock drives it, positive after it observed a timestamp from a peer
// whose clock is ahead, or after its own wall clock stepped back (it then
// advances by the logical counter until the wall clock catches up).
// Operators watch it; nothing depends on it.
func (c *Clock) Lead() time.Duration {
	ahead := int64(c.last.Load()>>LogicalBits) - c.wallMs()
	return time.Duration(max(ahead, 0)) * time.Millisecond
}
