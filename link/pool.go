package link

import (
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Pool holds persistent, pipelined connections to storage nodes and
// implements replica.Backend. All methods are safe for concurrent use.
type Pool struct {
	cfg Config
	tun atomic.Pointer[Tunables] // Config's live part (tunables.go)
	log *slog.Logger

	nodes  atomic.Pointer[map[string]*node] // immutable snapshot; replaced under mu
	closed atomic.Bool

	mu        sync.Mutex // serialises SetNodes and Close
	closeOnce sync.Once
	// callbacks is held shared by ctx callbacks while they complete a
	// request; Close takes it exclusively to wait for them and to set
	// callbacksDone, after which callbacks find nothing to do.
	callbacks     sync.RWMutex
	callbacksDone bool

	now func() time.Time // the sweepers' clock; tests replace it before SetNodes
}

// New returns a pool with no nodes; add them with SetNodes.
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Pool{cfg: cfg, log: cfg.Logger, now: time.Now}
	t := cfg.Tunables()
	p.tun.Store(&t)
	if p.log == nil {
		p.log = slog.Default()
	}
	p.nodes.Store(&map[string]*node{})
	return p, nil
}

// SetNodes makes nodes (node ID → address) the set of linked nodes. New
// IDs are connected in the background; removed IDs, and IDs whose address
// changed, are stopped and their pending requests fail with ErrRemoved.
// It returns once the stopped links' goroutines are done.
func (p *Pool) SetNodes(nodes map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return
	}
	old := *p.nodes.Load()
	next := make(map[string]*node, len(nodes))
	var gone []*node
	for id, addr := range nodes {
		if n, ok := old[id]; ok && n.addr == addr {
			next[id] = n
			continue
		}
		next[id] = startNode(p, id, addr)
	}
	for id, n := range old {
		if next[id] != n {
			gone = append(gone, n)
		}
	}
	p.nodes.Store(&next)
	for _, n := range gone {
		n.close(ErrRemoved)
	}
}

// Up reports whether the node is linked and not ejected. It is two atomic
// loads and a map lookup.
func (p *Pool) Up(node string) bool {
	n := (*p.nodes.Load())[node]
	return n != nil && n.up.Load() && !p.closed.Load()
}

// Close stops every link: pending requests fail with ErrClosed (combined
// with ErrConnLost if they were written), and Close returns when every
// goroutine of the pool is done and no done callback is running. Later
// Sends fail with ErrClosed. It is idempotent and always returns nil.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed.Store(true)
		nodes := *p.nodes.Load()
		p.mu.Unlock()
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() { n.close(ErrClosed) })
		}
		wg.Wait()
		p.callbacks.Lock()
		p.callbacksDone = true
		p.callbacks.Unlock()
	})
	return nil
}

// NodeStats is a snapshot of one node's link.
type NodeStats struct {
	ID, Addr      string
	Up            bool
	Conns         int    // handshaken connections now
	Queued        int    // requests encoded and waiting for a writer
	InFlight      int    // requests admitted and not completed (queued or awaiting a reply)
	InFlightBytes int    // their encoded bytes
	Failures      int    // consecutive failures now (see Config.EjectAfter)
	Sent          uint64 // requests written to sockets
	Batched       uint64 // of those, requests coalesced into RBATCH frames (Config.Coalesce)
	Writes        uint64 // write system calls; Sent/Writes is requests per write
	Errors        uint64 // requests completed with Reply.Err
	Late          uint64 // replies dropped: their request had completed, or unknown ID
	Reconnects    uint64 // connections made after a slot's first
	Ejections     uint64 // times the node was marked down
}

// Stats returns a snapshot per node, ordered by ID.
func (p *Pool) Stats() []NodeStats {
	nodes := *p.nodes.Load()
	out := make([]NodeStats, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, n.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (n *node) snapshot() NodeStats {
	conns := *n.ready.Load()
	s := NodeStats{
		ID: n.id, Addr: n.addr, Up: n.up.Load(), Conns: len(conns),
		Failures:   int(n.failures.Load()),
		Sent:       n.stats.sent.Load(),
		Batched:    n.stats.batched.Load(),
		Writes:     n.stats.writes.Load(),
		Errors:     n.stats.errors.Load(),
		Late:       n.stats.late.Load(),
		Reconnects: n.stats.reconnects.Load(),
		Ejections:  n.stats.ejections.Load(),
	}
	for _, c := range conns {
		s.Queued += c.queueLen()
	}
	s.InFlight, s.InFlightBytes = n.window.usage()
	return s
}
