package repair

import (
	"context"
	"fmt"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/ring"
)

// Nodes is what anti-entropy and rebalancing need from the links to the
// storage nodes; *link.Pool implements it.
type Nodes interface {
	replica.Backend
	// Scan returns one RSCAN (or, for a bucket, RBSCAN) page; its entries
	// belong to the caller.
	Scan(ctx context.Context, node string, s protocol.Scan) (protocol.ScanReply, error)
	// Digest returns a partition's RDIGEST.
	Digest(ctx context.Context, node string, d protocol.Digest) (protocol.DigestReply, error)
	// CommitEpoch sends REPOCH; a refusal is a WRONG_EPOCH error with the
	// node's epoch in the reply.
	CommitEpoch(ctx context.Context, node string, c protocol.EpochCommit) (protocol.EpochReply, error)
	// Drop sends RDROP; a refusal is a WRONG_EPOCH error with the node's
	// epoch in the reply.
	Drop(ctx context.Context, node string, d protocol.Drop) (protocol.DropReply, error)
	// Buckets returns the RBUCKETS digests of a bucket's sub-buckets,
	// b.Count() of them; the reply belongs to the caller.
	Buckets(ctx context.Context, node string, b protocol.Buckets) (protocol.BucketsReply, error)
}

// sendWait sends items to node through b and waits for the reply. The
// Backend contract calls done exactly once, at the latest when ctx ends.
func sendWait(ctx context.Context, b replica.Backend, node string, at protocol.ReplicaHeader, items []protocol.Item) ([]protocol.Result, error) {
	ch := make(chan replica.Reply, 1)
	b.Send(ctx, node, at, items, func(r replica.Reply) { ch <- r })
	r := <-ch
	if r.Err != nil {
		return nil, fmt.Errorf("cannot send %d items to node %s: %w", len(items), node, r.Err)
	}
	if len(r.Results) != len(items) {
		return nil, fmt.Errorf("node %s answered %d results for %d items: %w", node, len(r.Results), len(items), ErrBadReply)
	}
	return r.Results, nil
}

// acked reports whether a write result means the node holds that version
// or a newer one.
func acked(st protocol.Status) bool {
	return st == protocol.StatusOK || st == protocol.StatusSuperseded
}

// itemBytes is an item's payload size for the byte throttles.
func itemBytes(it *protocol.Item) int { return len(it.Key) + len(it.Value) + protocol.VersionSize }

// batcher cuts items into requests of at most maxItems items and maxBytes
// payload bytes (an item larger than maxBytes goes alone).
type batcher struct {
	maxItems, maxBytes int
	items              []protocol.Item
	bytes              int
}

// full reports whether adding it would overflow the current batch.
func (b *batcher) full(it *protocol.Item) bool {
	return len(b.items) > 0 && (len(b.items) >= b.maxItems || b.bytes+itemBytes(it) > b.maxBytes)
}

func (b *batcher) add(it protocol.Item) {
	b.items = append(b.items, it)
	b.bytes += itemBytes(&it)
}

func (b *batcher) reset() { clear(b.items); b.items, b.bytes = b.items[:0], 0 }

// header is the replica request prefix for requests sent under ring r:
// its epoch and fingerprint, so a node that committed another ring at
// that epoch refuses them.
func header(r *ring.Ring) protocol.ReplicaHeader {
	return protocol.ReplicaHeader{Epoch: r.Epoch(), Ring: r.Hash()}
}
