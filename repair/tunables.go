package repair

import (
	"sync/atomic"
	"time"
)

// Tunables are the repair settings a running daemon may change (a
// SIGHUP reload): the request timeout, the throttles and the
// anti-entropy pace. Each applies to what starts afterwards: the next
// request to a node, the next token taken from a throttle, the next
// anti-entropy tick. The other Config fields size queues, batches, scans
// and hint storage, or fix the timers of the drop and replay loops and
// the move's retry and grace plan, so they stay as started.
type Tunables struct {
	Timeout                              time.Duration
	PartitionsPerSec                     float64
	ReplayItemsPerSec, ReplayBytesPerSec float64
	RepairItemsPerSec, RepairBytesPerSec float64
	MoveItemsPerSec, MoveBytesPerSec     float64
	DropPartitionsPerSec                 float64
}

// Tunables returns c's live settings.
func (c Config) Tunables() Tunables {
	return Tunables{
		Timeout: c.Timeout, PartitionsPerSec: c.PartitionsPerSec,
		ReplayItemsPerSec: c.ReplayItemsPerSec, ReplayBytesPerSec: c.ReplayBytesPerSec,
		RepairItemsPerSec: c.RepairItemsPerSec, RepairBytesPerSec: c.RepairBytesPerSec,
		MoveItemsPerSec: c.MoveItemsPerSec, MoveBytesPerSec: c.MoveBytesPerSec,
		DropPartitionsPerSec: c.DropPartitionsPerSec,
	}
}

// withTunables returns c with t's settings.
func (c Config) withTunables(t Tunables) Config {
	c.Timeout, c.PartitionsPerSec = t.Timeout, t.PartitionsPerSec
	c.ReplayItemsPerSec, c.ReplayBytesPerSec = t.ReplayItemsPerSec, t.ReplayBytesPerSec
	c.RepairItemsPerSec, c.RepairBytesPerSec = t.RepairItemsPerSec, t.RepairBytesPerSec
	c.MoveItemsPerSec, c.MoveBytesPerSec = t.MoveItemsPerSec, t.MoveBytesPerSec
	c.DropPartitionsPerSec = t.DropPartitionsPerSec
	return c
}

// live is a component's current Tunables: an immutable snapshot, loaded
// once per use.
type live struct{ p atomic.Pointer[Tunables] }

func (l *live) set(t Tunables)          { l.p.Store(&t) }
func (l *live) get() *Tunables          { return l.p.Load() }
func (l *live) timeout() time.Duration  { return l.p.Load().Timeout }
func (l *live) overlay(c Config) Config { return c.withTunables(*l.p.Load()) }

// dropByteRate leaves drops unthrottled by bytes: a drop is one range
// deletion whatever its size, paced by DropPartitionsPerSec alone.
const dropByteRate = 1 << 62

// checkTunables validates t as part of cfg.
func checkTunables(cfg Config, t Tunables) error { return cfg.withTunables(t).Validate() }

// SetTunables makes t the settings of the hint replayer's next requests
// and throttle waits. A t that is invalid with the rest of the config is
// refused and nothing changes. Any goroutine.
func (h *Hints) SetTunables(t Tunables) error {
	if err := checkTunables(h.cfg, t); err != nil {
		return err
	}
	h.live.set(t)
	h.limit.SetRates(t.ReplayItemsPerSec, t.ReplayBytesPerSec)
	return nil
}

// SetTunables makes t the settings of the next checks and repairs: their
// requests' timeout, the repair throttle and the background pace (zero
// pauses it, positive resumes it). A t that is invalid with the rest of
// the config is refused and nothing changes. Any goroutine.
func (a *AntiEntropy) SetTunables(t Tunables) error {
	if err := checkTunables(a.cfg, t); err != nil {
		return err
	}
	a.live.set(t)
	a.limit.SetRates(t.RepairItemsPerSec, t.RepairBytesPerSec)
	select {
	case a.repace <- struct{}{}:
	default: // a change is already pending; the loop reads the newest
	}
	return nil
}

// SetTunables makes t the settings of the next copies and drops: their
// requests' timeout and the move and drop throttles. A t that is invalid
// with the rest of the config is refused and nothing changes. Any
// goroutine.
func (rb *Rebalancer) SetTunables(t Tunables) error {
	if err := checkTunables(rb.cfg, t); err != nil {
		return err
	}
	rb.live.set(t)
	rb.limit.SetRates(t.MoveItemsPerSec, t.MoveBytesPerSec)
	rb.drops.limit.SetRates(t.DropPartitionsPerSec, dropByteRate)
	return nil
}
