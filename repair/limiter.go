package repair

import (
	"context"
	"sync"
	"time"
)

// Limiter is a pair of token buckets, items and bytes per second, shared by
// the goroutines of one kind of repair traffic. Its burst is one second of
// each rate. A request larger than the burst is let through and paid for
// by waiting afterwards (the bucket goes into debt), so the long-run rate
// never exceeds the configured one and no request is refused for its size.
type Limiter struct {
	mu           sync.Mutex
	itemRate     float64
	byteRate     float64
	items, bytes float64 // tokens; negative is debt
	last         time.Time
	now          func() time.Time
	changed      chan struct{} // closed and replaced by SetRates: waiters recompute
}

// NewLimiter returns a limiter at the given rates, starting full.
func NewLimiter(itemsPerSec, bytesPerSec float64) *Limiter {
	return &Limiter{itemRate: itemsPerSec, byteRate: bytesPerSec, items: itemsPerSec, bytes: bytesPerSec,
		last: time.Now(), now: time.Now, changed: make(chan struct{})}
}

// SetRates changes the rates; tokens and debt carry over, capped at the
// new burst, and goroutines already waiting recompute their wait at the new
// rates (raising a throttle of 1 item/s takes effect at once, not after the
// old debt). Safe for concurrent use.
func (l *Limiter) SetRates(itemsPerSec, bytesPerSec float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now() // settle the time so far at the old rates
	dt := now.Sub(l.last).Seconds()
	l.last = now
	l.items = min(l.itemRate, l.items+dt*l.itemRate)
	l.bytes = min(l.byteRate, l.bytes+dt*l.byteRate)
	l.itemRate, l.byteRate = itemsPerSec, bytesPerSec
	l.items, l.bytes = min(l.items, itemsPerSec), min(l.bytes, bytesPerSec)
	close(l.changed)
	l.changed = make(chan struct{})
}

// Wait takes items and bytes tokens and blocks, within ctx, until the
// buckets are out of debt. Safe for concurrent use.
func (l *Limiter) Wait(ctx context.Context, items, bytes int) error {
	for taken := false; ; taken = true {
		l.mu.Lock()
		now := l.now()
		dt := now.Sub(l.last).Seconds()
		l.last = now
		l.items = min(l.itemRate, l.items+dt*l.itemRate)
		l.bytes = min(l.byteRate, l.bytes+dt*l.byteRate)
		if !taken {
			l.items -= float64(items)
			l.bytes -= float64(bytes)
		}
		wait := max(-l.items/l.itemRate, -l.bytes/l.byteRate, 0)
		changed := l.changed
		l.mu.Unlock()
		if wait == 0 {
			return ctx.Err()
		}
		t := time.NewTimer(time.Duration(wait * float64(time.Second)))
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-changed:
			t.Stop() // the rates changed: wait for the debt at the new ones
		}
	}
}
