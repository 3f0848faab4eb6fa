package ring

import (
	"fmt"
	"math/bits"
	"slices"
)

// Table returns a copy of the owner table: P rows of N node indexes, row p
// at [p·N, p·N+N), indexes into Nodes(). Saved with the membership, it lets
// a later release rebuild this exact ring with FromTable even if its own
// placement rule computes a different table for the membership.
func (r *Ring) Table() []uint16 { return slices.Clone(r.table) }

// FromTable rebuilds a ring from a saved Table: the same nodes, shape and
// table give a ring with the same Hash as the one saved. Placement rules
// change between releases (a better balance pass, say); a daemon that
// finds its committed ring's membership now builds another table restores
// the committed ring this way, serves on it, and moves the data to New's
// table like any membership change. Incremental changes (WithNode and so
// on) of the result follow this release's rule.
func FromTable(cfg Config, nodes []Node, epoch uint64, table []uint16) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot rebuild ring: %w", err)
	}
	cfg = cfg.withDefaults()
	m, err := newMembers(nodes, bits.TrailingZeros(uint(cfg.Partitions)))
	if err == nil {
		err = checkCount(m, cfg)
	}
	if err == nil {
		err = checkTable(table, cfg, len(m.nodes))
	}
	if err != nil {
		return nil, fmt.Errorf("cannot rebuild ring: %w", err)
	}
	table = slices.Clone(table)
	r := &Ring{
		cfg: cfg, epoch: epoch, mask: uint32(cfg.Partitions - 1),
		replicas: cfg.Replicas, table: table, m: m,
		exc: diffRows(rendezvous(m, cfg.Partitions, cfg.Replicas), table, cfg.Replicas),
	}
	r.hash = r.contentHash()
	r.stats = r.computeStats(0)
	return r, nil
}

// checkTable rejects a table of the wrong size, with an unknown node index
// or with a node twice in one row.
func checkTable(table []uint16, cfg Config, nodes int) error {
	n := cfg.Replicas
	if len(table) != cfg.Partitions*n {
		return fmt.Errorf("table of %d entries for %d partitions of %d: %w", len(table), cfg.Partitions, n, ErrTable)
	}
	for p := 0; p < len(table); p += n {
		row := table[p : p+n]
		for i, v := range row {
			if int(v) >= nodes || slices.Contains(row[:i], v) {
				return fmt.Errorf("partition %d owners %v: %w", p/n, row, ErrTable)
			}
		}
	}
	return nil
}

// diffRows records the rows where table differs from the rendezvous table
// as exceptions, so that incremental changes start from rendezvous.
func diffRows(rendezvous, table []uint16, replicas int) exceptions {
	var e exceptions
	for p := 0; p < len(table); p += replicas {
		if !equalRow(table[p:p+replicas], rendezvous[p:p+replicas]) {
			e.rows = append(e.rows, uint32(p/replicas))
			e.owners = append(e.owners, rendezvous[p:p+replicas]...)
		}
	}
	return e
}
