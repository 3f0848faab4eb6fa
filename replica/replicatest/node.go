package replicatest

import (
	"sync"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// Entry is what a node stores for one key.
type Entry struct {
	Version   protocol.Version
	Tombstone bool
	Value     []byte
	Partition uint32 // the partition the item was sent with
}

// Fault is a failure injected into a node's answers.
type Fault struct {
	// Err fails every request as a whole (Reply.Err), as a link error or a
	// refusal does; nothing is applied unless Applied is set.
	Err error
	// Applied, with Err, applies the items first: the answer is what got
	// lost, so the write happened although the caller saw an error.
	Applied bool
	// Status, if not OK, answers every item with it and applies nothing
	// (BUSY, WRONG_EPOCH, INTERNAL, ...).
	Status protocol.Status
	// Drop never answers and never applies: only the caller's ctx ends it.
	Drop bool
}

// Counts are what a node has received since the last ResetCounts.
type Counts struct {
	Sends            int // Send calls (one frame each)
	Items            int // items over all Sends
	Puts, Dels, Gets int // items by kind
}

// Node is one in-memory storage node. It applies last-writer-wins by
// Version exactly as a real node does, and answers SUPERSEDED with the
// stored version when an item loses. All methods are safe for concurrent
// use.
type Node struct {
	id    string
	clock *protocol.Clock

	mu      sync.Mutex
	data    map[string]Entry
	up      bool
	latency time.Duration
	gate    chan struct{} // non-nil while held
	fault   Fault
	epoch   uint64 // committed ring epoch: older requests are refused WRONG_EPOCH
	last    protocol.ReplicaHeader
	counts  Counts
}

// behavior is a node's injected behaviour, captured when a Send starts.
type behavior struct {
	up      bool
	latency time.Duration
	gate    chan struct{}
	fault   Fault
}

// ID returns the node's ID.
func (n *Node) ID() string { return n.id }

// SetUp sets what Up reports; a Send to a node set down fails with ErrDown.
func (n *Node) SetUp(up bool) { n.mu.Lock(); n.up = up; n.mu.Unlock() }

// SetLatency delays every later request's arrival by d (0: answer inline).
func (n *Node) SetLatency(d time.Duration) { n.mu.Lock(); n.latency = d; n.mu.Unlock() }

// SetFault injects f into later requests; the zero Fault clears it.
func (n *Node) SetFault(f Fault) { n.mu.Lock(); n.fault = f; n.mu.Unlock() }

// Hold makes later requests wait (unapplied) until Release.
func (n *Node) Hold() {
	n.mu.Lock()
	if n.gate == nil {
		n.gate = make(chan struct{})
	}
	n.mu.Unlock()
}

// Release lets every held request arrive; later ones are not held.
func (n *Node) Release() {
	n.mu.Lock()
	if n.gate != nil {
		close(n.gate)
		n.gate = nil
	}
	n.mu.Unlock()
}

// SetEpoch commits ring epoch e on the node (if higher than its own), as
// a storage node's REPOCH does: from then on it reports e in its stamps
// and refuses requests from older rings with WRONG_EPOCH, applying none
// of their items.
func (n *Node) SetEpoch(e uint64) { n.mu.Lock(); n.epoch = max(n.epoch, e); n.mu.Unlock() }

// Get returns the stored entry for key (a copy).
func (n *Node) Get(key string) (Entry, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.data[key]
	e.Value = append([]byte(nil), e.Value...)
	return e, ok
}

// Set stores e under key directly, bypassing LWW: for seeding stale or
// future versions.
func (n *Node) Set(key string, e Entry) {
	n.mu.Lock()
	e.Value = append([]byte(nil), e.Value...)
	n.data[key] = e
	n.mu.Unlock()
}

// Len is the number of keys stored (tombstones included).
func (n *Node) Len() int { n.mu.Lock(); defer n.mu.Unlock(); return len(n.data) }

// Counts returns what the node has received.
func (n *Node) Counts() Counts { n.mu.Lock(); defer n.mu.Unlock(); return n.counts }

// ResetCounts zeroes the counts.
func (n *Node) ResetCounts() { n.mu.Lock(); n.counts = Counts{}; n.mu.Unlock() }

// LastHeader is the header of the last Send to this node.
func (n *Node) LastHeader() protocol.ReplicaHeader { n.mu.Lock(); defer n.mu.Unlock(); return n.last }

// accept counts a Send and captures the behaviour that applies to it.
func (n *Node) accept(h protocol.ReplicaHeader, items []protocol.Item) behavior {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.last = h
	n.counts.Sends++
	n.counts.Items += len(items)
	for _, it := range items {
		switch it.Kind {
		case protocol.ItemPut:
			n.counts.Puts++
		case protocol.ItemDel:
			n.counts.Dels++
		case protocol.ItemGet:
			n.counts.Gets++
		}
	}
	return behavior{up: n.up, latency: n.latency, gate: n.gate, fault: n.fault}
}

// reply handles items as they arrive at the node and builds the answer.
func (n *Node) reply(h protocol.ReplicaHeader, items []protocol.Item, f Fault) replica.Reply {
	n.mu.Lock()
	defer n.mu.Unlock()
	res := make([]protocol.Result, len(items))
	for i, it := range items {
		n.clock.Observe(it.Version.TS)
		if h.Epoch < n.epoch {
			res[i] = protocol.Result{Status: protocol.StatusWrongEpoch}
			continue
		}
		if f.Status != protocol.StatusOK {
			res[i] = protocol.Result{Status: f.Status}
			continue
		}
		res[i] = n.apply(it)
	}
	if f.Err != nil { // Applied: the work is done, the answer is lost
		return replica.Reply{Err: f.Err}
	}
	return replica.Reply{Stamp: protocol.ReplicaStamp{Clock: n.clock.Now(), Epoch: n.epoch}, Results: res}
}

// apply is one item under last-writer-wins. Called with mu held.
func (n *Node) apply(it protocol.Item) protocol.Result {
	cur, ok := n.data[string(it.Key)]
	var flags protocol.ResultFlags
	if cur.Tombstone {
		flags = protocol.ResultTombstone
	}
	if it.Kind == protocol.ItemGet {
		switch {
		case !ok:
			return protocol.Result{Status: protocol.StatusNotFound}
		case cur.Tombstone:
			return protocol.Result{Status: protocol.StatusNotFound, Flags: flags, Version: cur.Version}
		}
		return protocol.Result{Status: protocol.StatusOK, Version: cur.Version, Value: append([]byte(nil), cur.Value...)}
	}
	if ok && cur.Version.Newer(it.Version) {
		return protocol.Result{Status: protocol.StatusSuperseded, Flags: flags, Version: cur.Version}
	}
	e := Entry{Version: it.Version, Tombstone: it.Kind == protocol.ItemDel, Partition: it.Partition}
	if !e.Tombstone {
		e.Value = append([]byte(nil), it.Value...)
	}
	n.data[string(it.Key)] = e
	return protocol.Result{Status: protocol.StatusOK, Version: it.Version}
}
