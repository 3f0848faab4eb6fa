package replica

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/protocol"
)

// logInterval is the minimum gap between two replica-failure lines: a
// dead node fails every request, and one line per second says so.
const logInterval = time.Second

// finish counts the keys' outcomes and logs one aggregated line for the
// request if any key missed its quorum because replicas failed or were
// slow. Unavailable keys are only counted: the backend already knows
// those nodes are down. Called after run, when slots no longer change.
func (c *Coordinator) finish(o *op, name string) {
	failed, first := 0, -1
	for i := range o.keys {
		switch o.keys[i].err {
		case nil:
			continue
		case ErrNotFound:
			c.stats.notFound.Add(1)
			continue
		case ErrUnavailable:
			c.stats.unavailable.Add(1)
			continue
		case ErrTimeout:
			c.stats.timeouts.Add(1)
		case ErrPartial:
			c.stats.partial.Add(1)
		case ErrBusy, ErrWrongEpoch, ErrRejected:
			c.stats.refused.Add(1)
		default:
			continue // a bad key: the caller's fault, reported in its status
		}
		failed++
		if first < 0 {
			first = i
		}
	}
	if failed > 0 {
		c.logFailure(o, name, first, failed)
	}
}

func (c *Coordinator) logFailure(o *op, name string, first, failed int) {
	ctx := context.Background()
	if !c.log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	ok, suppressed := c.limit.allow(time.Now())
	if !ok {
		return
	}
	k := &o.keys[first]
	c.log.LogAttrs(ctx, slog.LevelWarn, "replica: quorum missed",
		slog.String("op", name),
		slog.String("status", protocol.StatusOf(k.err).String()),
		slog.Int("keys_failed", failed),
		slog.Int("keys", len(o.keys)),
		slog.Uint64("partition", uint64(k.partition)),
		slog.Uint64("epoch", o.hdr.Epoch),
		slog.String("replicas", o.describe(k)),
		slog.Uint64("suppressed", suppressed),
	)
}

// describe names each owner of k and what it said, e.g.
// "n1=OK n2=BUSY n3=TIMEOUT(context deadline exceeded) n4=DOWN".
func (o *op) describe(k *keyState) string {
	var b strings.Builder
	for i, s := range o.slots[k.slot0 : k.slot0+k.nslots] {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(o.nodeID(s.node))
		b.WriteByte('=')
		switch s.state {
		case slotDown:
			b.WriteString("DOWN")
		case slotPending:
			b.WriteString("NO_ANSWER")
		default:
			b.WriteString(s.status.String())
		}
		if s.err != nil {
			b.WriteByte('(')
			b.WriteString(s.err.Error())
			b.WriteByte(')')
		}
	}
	return b.String()
}

// rateLimiter lets one event through per logInterval and counts the rest.
type rateLimiter struct {
	next       atomic.Int64 // unix ns before which events are suppressed
	suppressed atomic.Uint64
}

// allow reports whether to log now, and how many events were suppressed
// since the last one logged.
func (l *rateLimiter) allow(now time.Time) (bool, uint64) {
	t, next := now.UnixNano(), l.next.Load()
	if t < next || !l.next.CompareAndSwap(next, t+int64(logInterval)) {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}
