package ring

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/zeebo/xxh3"
)

// Node is one storage node. Placement depends only on ID, Weight and Zone.
type Node struct {
	ID     string  // stable identity, e.g. "n1"; no whitespace or '#'
	Addr   string  // host:port; an attribute only, never used for placement; not "-"
	Zone   string  // failure domain; "" is the default zone
	Weight float64 // relative capacity, in [1e-6, 1e6]
}

// validate checks one node in isolation.
func (n Node) validate() error {
	if n.ID == "" {
		return ErrEmptyID
	}
	if !isToken(n.ID) || !isToken(n.Addr) || !isToken(n.Zone) || n.Addr == noAddr {
		return fmt.Errorf("node %q: %w", n.ID, ErrBadToken)
	}
	if !(n.Weight >= minWeight && n.Weight <= maxWeight) { // also rejects NaN
		return fmt.Errorf("node %q weight %v: %w", n.ID, n.Weight, ErrBadWeight)
	}
	return nil
}

// isToken reports whether s survives the whitespace-separated membership
// format unchanged (the empty string is written as a placeholder).
func isToken(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '#' || r == unicode.ReplacementChar
	})
}

// members is the placement-relevant view of a node list, sorted by ID so that
// node index order equals ID order in every membership. That makes index
// tie-breaks consistent across rings and lets incremental rebuilds remap
// indexes with a shift.
type members struct {
	nodes []Node
	// bits is log2 P. Node i's draw for row p is shift[i] XOR the columns
	// cols[b*n+i] for every set bit b of p (see stratified.go).
	bits   int
	shift  []uint64
	cols   []uint64
	invW   []float64  // 1/weight, so a cost is one multiplication
	zoneOf []uint16   // zone index per node
	zones  [][]uint16 // node indexes per zone, zones sorted by name
	index  map[string]uint16
	// maxWeight and minInvW bound every node's cost from below, for the
	// candidate scan's early exit (drawFloor).
	maxWeight, minInvW float64
}

// newMembers validates, copies and sorts nodes, for a table of 2^bits rows.
func newMembers(in []Node, bits int) (*members, error) {
	if len(in) == 0 {
		return nil, ErrNoNodes
	}
	if len(in) > MaxNodes {
		return nil, ErrTooManyNodes
	}
	nodes := slices.Clone(in)
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	for i, n := range nodes {
		if err := n.validate(); err != nil {
			return nil, err
		}
		if i > 0 && nodes[i-1].ID == n.ID {
			return nil, fmt.Errorf("node %q: %w", n.ID, ErrDuplicateID)
		}
	}
	return derive(nodes, bits), nil
}

// derive computes the per-node hashing inputs of sorted, valid nodes.
func derive(nodes []Node, bits int) *members {
	m := &members{
		nodes:  nodes,
		bits:   bits,
		shift:  make([]uint64, len(nodes)),
		cols:   make([]uint64, bits*len(nodes)),
		invW:   make([]float64, len(nodes)),
		zoneOf: make([]uint16, len(nodes)),
		index:  make(map[string]uint16, len(nodes)),
	}
	names := make([]string, 0, 4)
	for _, n := range nodes {
		names = append(names, n.Zone)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	m.zones = make([][]uint16, len(names))
	for i, n := range nodes {
		m.setStream(i, xxh3.HashString(n.ID))
		m.invW[i] = 1 / n.Weight
		z, _ := slices.BinarySearch(names, n.Zone)
		m.zoneOf[i] = uint16(z)
		m.zones[z] = append(m.zones[z], uint16(i))
		m.index[n.ID] = uint16(i)
		m.maxWeight = max(m.maxWeight, n.Weight)
	}
	m.minInvW = 1 / m.maxWeight
	return m
}

// cost is the straw2 draw of node i for partition p: -ln(u)/weight up to a
// constant factor, with u uniform in (0,1]. The smallest cost wins.
func (m *members) cost(p uint32, i uint16) float64 {
	return m.costOf(m.draw(p, i), i)
}

// costOf turns a draw of node i into its cost. negLog2 < 2^46, so the
// signed conversion is exact (and cheaper than the unsigned one).
func (m *members) costOf(h uint64, i uint16) float64 {
	return float64(int64(negLog2(h))) * m.invW[i]
}

// maxPerZone is how many owners of one partition may share a zone: 1 when
// there are at least N zones, else the even spread ceil(N/Z), raised until
// the zones' sizes can actually seat N owners.
func (m *members) maxPerZone(replicas int) int {
	limit := (replicas + len(m.zones) - 1) / len(m.zones)
	for ; limit < replicas; limit++ {
		seats := 0
		for _, ids := range m.zones {
			seats += min(limit, len(ids))
		}
		if seats >= replicas {
			break
		}
	}
	return limit
}
