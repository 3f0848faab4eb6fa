package ring

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/zeebo/xxh3"
)

// Ring is an immutable placement snapshot. All methods are safe for
// concurrent use by any goroutine without locks; publish new rings through
// an atomic.Pointer.
type Ring struct {
	cfg      Config // with defaults applied
	epoch    uint64
	mask     uint32
	replicas int
	table    []uint16 // P×N owner node indexes, row p at [p*N, p*N+N)
	m        *members
	exc      exceptions // rows the capacity pass changed, for incremental rebuilds
	hash     uint64
	stats    Stats
}

// New builds the ring for nodes (in any order) at the given epoch.
func New(cfg Config, nodes []Node, epoch uint64) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot build ring: %w", err)
	}
	cfg = cfg.withDefaults()
	m, err := newMembers(nodes, bits.TrailingZeros(uint(cfg.Partitions)))
	if err == nil {
		err = checkCount(m, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot build ring: %w", err)
	}
	return finish(cfg, m, rendezvous(m, cfg.Partitions, cfg.Replicas), epoch), nil
}

// checkCount rejects memberships too small for N distinct owners.
func checkCount(m *members, cfg Config) error {
	if len(m.nodes) < cfg.Replicas {
		return fmt.Errorf("%d nodes for %d replicas: %w", len(m.nodes), cfg.Replicas, ErrTooFewNodes)
	}
	return nil
}

// finish runs the capacity pass over the rendezvous table (in place) and
// seals the snapshot.
func finish(cfg Config, m *members, table []uint16, epoch uint64) *Ring {
	exc, forced := assign(m, table, cfg.Partitions, cfg.Replicas, cfg.slackFor(len(m.nodes)), cfg.Rule)
	r := &Ring{
		cfg: cfg, epoch: epoch, mask: uint32(cfg.Partitions - 1),
		replicas: cfg.Replicas, table: table, m: m, exc: exc,
	}
	r.hash = r.contentHash()
	r.stats = r.computeStats(forced)
	return r
}

// Epoch returns the epoch the ring was built or stamped with.
func (r *Ring) Epoch() uint64 { return r.epoch }

// Hash returns a hash of the configuration, the membership (including
// addresses) and the table, but not the epoch: two rings with equal hashes
// route every key to the same addresses.
func (r *Ring) Hash() uint64 { return r.hash }

// Replicas returns N, the number of owners per partition.
func (r *Ring) Replicas() int { return r.replicas }

// Partitions returns P, the number of partitions.
func (r *Ring) Partitions() int { return len(r.table) / r.replicas }

// Partition maps a key to its partition: the low bits of its xxh3 hash.
func (r *Ring) Partition(key []byte) uint32 { return PartitionOf(key, r.mask) }

// PartitionOf is the partition of key in a table of mask+1 partitions, for
// tools that address storage nodes without a ring (bench's node target).
func PartitionOf(key []byte, mask uint32) uint32 {
	return uint32(xxh3.Hash(key)) & mask
}

// Owners returns the N node indexes owning partition p, most preferred
// first, or nil if p is out of range. The slice is a view into the table:
// callers must not modify it.
func (r *Ring) Owners(p uint32) []uint16 {
	if p > r.mask {
		return nil
	}
	i := int(p) * r.replicas
	return r.table[i : i+r.replicas : i+r.replicas]
}

// Lookup returns the partition of key and its owners (see Owners). It does
// not allocate.
func (r *Ring) Lookup(key []byte) (uint32, []uint16) {
	p := PartitionOf(key, r.mask)
	i := int(p) * r.replicas
	return p, r.table[i : i+r.replicas : i+r.replicas]
}

// Node returns the node with index i, or the zero Node if i is out of range.
func (r *Ring) Node(i uint16) Node {
	if int(i) >= len(r.m.nodes) {
		return Node{}
	}
	return r.m.nodes[i]
}

// Nodes returns a copy of the members sorted by ID; a node's position is the
// index used by Owners. It copies so the snapshot stays immutable; hot paths
// should use Node(i).
func (r *Ring) Nodes() []Node { return slices.Clone(r.m.nodes) }

// NodeIndex returns the index of the node with the given ID.
func (r *Ring) NodeIndex(id string) (uint16, bool) {
	i, ok := r.m.index[id]
	return i, ok
}

// rendezvousTable returns a copy of the table before the capacity pass.
func (r *Ring) rendezvousTable() []uint16 {
	t := slices.Clone(r.table)
	r.exc.restore(t, r.replicas)
	return t
}

// Config returns the configuration the ring was built with, defaults applied.
func (r *Ring) Config() Config { return r.cfg }

// contentHash hashes everything that decides where a key goes.
func (r *Ring) contentHash() uint64 {
	h := xxh3.New()
	fmt.Fprintf(h, "P=%d N=%d slack=%v\n", r.Partitions(), r.replicas, r.cfg.slackFor(len(r.m.nodes)))
	h.WriteString(FormatMembership(r.m.nodes))
	buf := make([]byte, 0, 2*len(r.table))
	for _, v := range r.table {
		buf = append(buf, byte(v), byte(v>>8))
	}
	h.Write(buf)
	return h.Sum64()
}
