// Package ring decides which N distinct storage nodes own each key.
//
// # Layout
//
// A key's partition is the low bits of its xxh3 hash: p = xxh3(key) & (P-1).
// The ring is a fixed table of P rows (a power of two, 2^16 by default) with
// N node indexes (uint16) per row, so a lookup is one hash and one slice of
// the table: no search, no allocation, the same cost for 10 or 10,000 nodes.
// The table takes 2·P·N bytes. A Ring is an immutable snapshot with an epoch;
// publish it through an atomic.Pointer and swap on membership change.
//
// # Filling the table
//
// Rows are filled in two steps.
//
//  1. Candidates. Every node draws a cost for every row, straw2 style:
//     cost = -ln(u)/weight with u uniform in (0,1] derived from a 64-bit mix
//     of the node ID's hash and the row number. Lower cost is better. Nodes
//     are then ordered zone-spreading: the best node of each zone by cost,
//     then each zone's second best, and so on (equivalently: always pick the
//     best node among the zones with the fewest picks so far). With Z ≥ N
//     zones the first N candidates are in N distinct zones; with fewer zones
//     they are spread as evenly as the zones allow. Each row keeps its first
//     K = N+5 candidates. This is plain weighted rendezvous hashing: a row's
//     candidates depend only on that row and the membership.
//
//  2. Balance. Rendezvous alone leaves node loads binomially spread (peak/mean
//     about 1.06 at 100 nodes and 1.1 at 1000 with P=2^16), so every node
//     gets a capacity, floor(fair share × (1+Slack)) but at least the
//     rounded-up fair share, and a deterministic deferred-acceptance
//     run (partitions propose to their candidates in order; a full node keeps
//     the partitions it draws best and rejects the rest, which try their next
//     candidate) picks the N owners of every row. Both sides rank by the same
//     cost, so the result is the unique stable assignment: no partition and
//     node both prefer each other to what they got. Zone limits (one owner
//     per zone, or the even spread) are honoured throughout; if weights or
//     zones make a capacity infeasible, the placement exceeds it and
//     Stats.Forced counts it.
//
// The table is a pure function of (Config, IDs, weights, zones): addresses
// and epochs never change it, and every build on every platform computes the
// same table (draws use integer arithmetic and a fixed-point logarithm;
// golden vectors in testdata guard this).
//
// # Trade-off: balance against movement
//
// Plain rendezvous moves the minimum on a membership change: only partitions
// that gain or lose the changed node move, and never between two unchanged
// nodes. Capacities break that slightly. When a new node takes a partition
// from a node at its capacity, that node fills the slot with the best
// partition it had rejected, whose current owner then has a free slot, and so
// on until the chain reaches a node below capacity. Every link of the chain is
// a move between two unchanged nodes. The fewer nodes sit at their capacity,
// the shorter the chains, so Slack trades peak load against extra movement:
// larger slack, more imbalance, less movement. The automatic slack,
// 0.01·log10(nodes) within [0.5%, 3%], meets peak/mean 1.01/1.02/1.03 at
// 10/100/1000 nodes with movement within about 5% of ideal, provided each node
// owns a few thousand partition replicas (P=2^16 up to ~100 nodes, P=2^20 at
// 1000). With fewer partitions per node the chains grow: at 1000 nodes and
// P=2^16 a change moves about 1.5× the ideal. With Slack=1 capacities never
// bind and the ring is plain, minimal-movement rendezvous: exactly the ideal
// movement, none between unchanged nodes. Fair shares respect placement
// limits: a node owns a partition at most once, and with Z ≥ N zones each
// zone holds at most one replica per partition, so fair shares are water-
// filled across zones first, then within each zone. Capacities bound the
// peak; there is no floor, so a node can own a few percent less than its
// share when its draws are poor. Measured figures are in PERFORMANCE.md (the ring section).
//
// With zones, a partition's acceptable candidates depend on the owners it
// already holds, so the balancer's result depends (deterministically) on
// proposal order and chains run longer: about 1.04-1.07× ideal movement at
// 100 nodes in 4 zones, P=2^18.
//
// # Incremental changes
//
// WithNode, WithoutNode and WithWeight recompute only the candidate lists that
// the change can touch (rows listing the removed or reweighted node, and rows
// the new or heavier node may enter, decided by one draw per row), then rerun
// the balancer, which is global but costs only O(P·N log) heap operations.
// The result is bit-identical to New with the same membership.
//
// # Memory
//
// The owner table is exactly 2·P·N bytes (6 MiB at P=2^20, N=3). The ring
// also keeps the candidate lists, 2·P·(N+5) bytes, for incremental rebuilds
// and for Preference beyond N without rescanning every node; a full build
// also needs transient balancer state of about 16·P·N bytes.
package ring
