package repair

import (
	"context"
	"fmt"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// writeBatched sends versioned items to node in requests bounded by
// BatchItems and BatchBytes, each paid for in limit first. It returns the
// acknowledged items and their bytes; an item not acknowledged is an
// error (after the rest of its request is counted).
func writeBatched(ctx context.Context, b replica.Backend, limit *Limiter, cfg Config, node string, at protocol.ReplicaHeader, items []protocol.Item) (int, int64, error) {
	bt := batcher{maxItems: cfg.BatchItems, maxBytes: cfg.BatchBytes}
	keys, bytes := 0, int64(0)
	flush := func() error {
		if len(bt.items) == 0 {
			return nil
		}
		defer bt.reset()
		if err := limit.Wait(ctx, len(bt.items), bt.bytes); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		res, err := sendWait(cctx, b, node, at, bt.items)
		cancel()
		if err != nil {
			return err
		}
		bad := 0
		for i := range res {
			if acked(res[i].Status) {
				keys++
				bytes += int64(itemBytes(&bt.items[i]))
			} else {
				bad++
			}
		}
		if bad > 0 {
			return fmt.Errorf("node %s refused %d of %d writes: %w", node, bad, len(res), ErrNotAcked)
		}
		return nil
	}
	for i := range items {
		if bt.full(&items[i]) {
			if err := flush(); err != nil {
				return keys, bytes, err
			}
		}
		bt.add(items[i])
	}
	return keys, bytes, flush()
}
