// Package replicatest provides an in-memory replica.Backend: storage nodes
// as maps, with per-node injectable latency, holds, failures and drops, and
// direct inspection of what each node stores. Tests of the replication
// core and of the daemon use it to run the whole data path in
// microseconds, deterministically.
package replicatest

import (
	"context"
	"sync"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

var (
	// ErrDown is what Send reports for a node set down: the link refuses
	// before sending, so it maps to UNAVAILABLE (outcome failed).
	ErrDown = protocol.NewError(protocol.StatusUnavailable, "replicatest: node down")
	// ErrUnknownNode is what Send reports for an ID NewBackend was not given.
	ErrUnknownNode = protocol.NewError(protocol.StatusUnavailable, "replicatest: unknown node")
)

// Backend is an in-memory replica.Backend. Its zero value is not usable;
// call NewBackend.
type Backend struct {
	nodes map[string]*Node // fixed at NewBackend: read without a lock
	wg    sync.WaitGroup   // delayed deliveries still running
}

var _ replica.Backend = (*Backend)(nil)

// NewBackend returns a backend with one empty, up, instant node per ID.
func NewBackend(ids ...string) *Backend {
	b := &Backend{nodes: make(map[string]*Node, len(ids))}
	for _, id := range ids {
		b.nodes[id] = &Node{id: id, clock: protocol.NewClock(nil), data: make(map[string]Entry), up: true}
	}
	return b
}

// Node returns the node with the given ID, or nil.
func (b *Backend) Node(id string) *Node { return b.nodes[id] }

// Close waits for every delayed delivery to finish. Release held nodes
// (or end the callers' contexts) first, or Close waits for them. Call it
// before goleak's check.
func (b *Backend) Close() { b.wg.Wait() }

// Up implements replica.Backend: false for unknown nodes and nodes set down.
func (b *Backend) Up(id string) bool {
	n := b.nodes[id]
	if n == nil {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up
}

// Send implements replica.Backend. An instant node (no latency, hold or
// drop) handles the items and calls done before Send returns; otherwise a
// goroutine owned by the Backend delivers them later (see Node).
func (b *Backend) Send(ctx context.Context, id string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) {
	n := b.nodes[id]
	if n == nil {
		done(replica.Reply{Err: ErrUnknownNode})
		return
	}
	bh := n.accept(h, items)
	switch {
	case !bh.up:
		done(replica.Reply{Err: ErrDown})
	case bh.fault.Err != nil && !bh.fault.Applied:
		done(replica.Reply{Err: bh.fault.Err})
	case !bh.fault.Drop && bh.latency == 0 && bh.gate == nil:
		done(n.reply(h, items, bh.fault))
	default:
		b.wg.Add(1)
		go b.deliver(ctx, n, h, cloneItems(items), bh, done)
	}
}

// deliver is a delayed request's life: it arrives at the node after the
// latency and once the node's hold is released, unless the node's own
// deadline (h.DeadlineMs) passes first, in which case the node drops it
// unapplied, as a real node drops expired work. If ctx ends before the
// arrival, done gets ctx's error at once, yet the request may still arrive
// and apply later: exactly the "outcome unknown" case.
func (b *Backend) deliver(ctx context.Context, n *Node, h protocol.ReplicaHeader, items []protocol.Item, bh behavior, done func(replica.Reply)) {
	defer b.wg.Done()
	nodeDeadline := time.NewTimer(time.Duration(h.DeadlineMs) * time.Millisecond)
	defer nodeDeadline.Stop()
	arrived := make(chan struct{})
	if !bh.fault.Drop {
		go func() { // owned here: always ends within the latency after the gate opens
			waitGate(bh.gate, bh.latency)
			close(arrived)
		}()
		defer func() { <-arrived }()
	}
	replied := false
	for {
		select {
		case <-arrived:
			if !replied {
				done(n.reply(h, items, bh.fault))
			} else {
				n.reply(h, items, bh.fault) // applies; the answer is lost
			}
			return
		case <-ctx.Done():
			if !replied {
				done(replica.Reply{Err: ctx.Err()})
				replied = true
			}
			if bh.fault.Drop {
				return
			}
			ctx = context.Background() // keep waiting for arrival or the node deadline
		case <-nodeDeadline.C:
			if !replied {
				done(replica.Reply{Err: context.DeadlineExceeded})
			}
			return
		}
	}
}

func waitGate(gate chan struct{}, latency time.Duration) {
	if gate != nil {
		<-gate
	}
	if latency > 0 {
		time.Sleep(latency)
	}
}

func cloneItems(items []protocol.Item) []protocol.Item {
	out := make([]protocol.Item, len(items))
	for i, it := range items {
		it.Key = append([]byte(nil), it.Key...)
		it.Value = append([]byte(nil), it.Value...)
		out[i] = it
	}
	return out
}
