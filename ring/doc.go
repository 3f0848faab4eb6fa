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
//  1. Rendezvous. Every node draws a cost for every row, straw2 style:
//     cost = -ln(u)/weight, lower is better. Nodes are ordered
//     zone-spreading: the best node of each zone by cost, then each zone's
//     second best, and so on. The row's owners are the first N. With Z ≥ N
//     zones they are in N distinct zones; with fewer zones they are spread
//     as evenly as the zones allow. A row's order depends only on that row
//     and the membership, so adding or removing a node moves replicas only
//     to or from that node (see rows.go).
//
//     The draws are stratified (see stratified.go): over the P rows, each
//     node's u takes every one of the P strata [j/P, (j+1)/P) exactly once,
//     in a per-node pseudo-random order (a GF(2)-affine map of the row
//     number, from the ID's hash). Independent draws leave loads binomially
//     spread; stratified ones cut the standard deviation to about 0.55× of
//     that (peak/mean 1.003 at 10 nodes, 1.016 at 100 and 1.03-1.04 at 1000,
//     N=3, P=2^16/2^20/2^20, capacities off).
//
//  2. Capacities. Every node gets a capacity: what plain rendezvous gives it
//     on average (see expected.go), raised by Slack, but never more than
//     5% above its weight-fair share and never below the rounded-up fair
//     share, so the capacities add up to at least P·N. Measuring against
//     the rendezvous expectation, not the proportional share, matters:
//     when N is a large part of a row's competitors (few zones, or few
//     heavy nodes) rendezvous is biased against proportional (with 3
//     replicas over zones of 7, 6, 6, 6 and 6 nodes, the bigger zone's
//     nodes draw 0.956 of a proportional share, the others 1.013), every
//     change in a zoned cluster leaves zones of unequal size, and
//     capacities that fight the bias bind on every change. If no node is
//     over its capacity, the table is the rendezvous table. Otherwise a
//     deterministic deferred-acceptance pass (assign.go) makes the nodes
//     over capacity shed the partitions they draw worst to those
//     partitions' next candidates, and records the rows it changed
//     (exceptions). Zone limits are kept; if weights or zones make a
//     capacity unreachable, the placement exceeds it and Stats.Forced
//     counts it.
//
// The table is a pure function of (Config, IDs, weights, zones): addresses
// and epochs never change it, and every build on every platform computes the
// same table (draws use integer arithmetic and a fixed-point logarithm;
// golden vectors in testdata guard this).
//
// # Trade-off: balance against moves between unchanged nodes
//
// No rule can both bound the peak for every membership and never move a
// replica between two nodes that did not change. Never moving between
// unchanged nodes means owners(M+x) minus x ⊆ owners(M) for every row,
// membership M and node x. With N=1 that forces each row to be a fixed
// ranking of all possible IDs (let a ≻ b when a owns the row in {a, b}; the
// condition makes ≻ transitive and the owner of any M its ≻-best), that is,
// rendezvous hashing with some per-row order. For any N, colour each
// (N+1)-set of IDs {a1 < ... < aN+1} (in a fixed enumeration) by the
// position each of the P rows leaves out. IDs are unbounded strings, so
// Ramsey's theorem gives infinitely many IDs on which every row p leaves out
// the same position e(p) of every (N+1)-set; the condition then makes the
// owners of row p, in any membership of such IDs, its e(p)-1 lowest and
// N+1-e(p) highest IDs, and a membership of 2N+k of them leaves k nodes
// empty. Such memberships are astronomically rare (far beyond what 64-bit
// hashes distinguish); in practice the limit is statistical: a per-row
// ranking's loads spread with the randomness of the draws, and stratified
// draws are the best we found (1.03-1.04 at 1000 nodes, P=2^20, against a
// 1.03 target; independent draws give 1.05).
//
// So the default caps the peak and accepts capacity chains where capacities
// bind: when a change frees a slot at a node at capacity, it takes back the
// best partition it had shed, whose fallback owner then has a free slot, and
// so on; each link moves a replica between two unchanged nodes. With
// stratified draws and capacities measured against the rendezvous
// expectation, capacities bind only on a node's luck, which shrinks with
// the partitions per node. Measured at N=3 (PERFORMANCE.md, the ring
// section): zero moves between unchanged nodes at 10 nodes (P=2^16), 100
// nodes with or without 4 zones (P=2^18), 100 nodes (P=2^20) and 40 nodes
// of weights 1-4 (P=2^16); 5 of about 31,000 moves at 100 nodes in 4 zones
// (P=2^20), 1 of 3,000 at 1000 nodes and 12 with 5 zones (P=2^20). With too
// few partitions per node chains grow: 1000 nodes at P=2^16 move 1.3×
// ideal. RecommendedPartitions gives the table size at which the natural
// spread stays within the slack, and Ring.Advice (logged by the daemon and
// printed by `config check`) says when a ring is below it. Slack=1 turns
// capacities off: plain stratified rendezvous, exactly minimal movement and
// never a move between unchanged nodes, at the natural spread (peak
// 1.03-1.04 at 1000 nodes, P=2^20).
//
// Limit: with more zones than replicas the capacity pass can move a
// replica only to a zone the row does not use yet, so zones of very
// different total weight (10, 20, 30 and 40 nodes, N=3) cannot be brought
// to their weight's share; Stats.Forced and Advice report it. Zones of
// similar weight, or exactly N zones, do not have this problem.
//
// Fair shares respect placement limits: a node owns a partition at most
// once, and with Z ≥ N zones each zone holds at most one replica per
// partition, so fair shares are water-filled across zones first, then
// within each zone. Capacities bound the peak; there is no floor.
//
// # Placement rules
//
// Config.Rule selects how capacities are set: RuleLatest (expected shares,
// above) or RuleProportional (proportional shares, the rule of releases
// before 2026-11-26, kept buildable and pinned to that release's golden
// hash). A table written under an earlier rule must not be silently
// replaced: nodes fence by the ring's fingerprint, which covers the table,
// and keys would be looked up where their data is not. Table and FromTable
// let a daemon save the table it serves and rebuild it later, whatever the
// rule; the daemon then moves the data to the latest rule like a membership
// change (daemon/epoch.go, placementMove).
//
// # Incremental changes
//
// WithNode, WithoutNode and WithWeight undo the exceptions to get the old
// rendezvous table, update only what the change can touch (a new or heavier
// node enters a row iff its key beats the row's last owner, one or two draws
// per row; rows of a removed or reweighted node are recomputed), and rerun
// the capacity pass. The result is bit-identical to New with the same
// membership.
//
// # Memory
//
// A ring keeps the owner table, exactly 2·P·N bytes (6 MiB at P=2^20, N=3),
// the exceptions (4+2N bytes per row the capacity pass changed: none or a
// few hundred in the cases above), and per node its draw columns,
// 8·(log2(P)+1) bytes (168 KB for 1000 nodes at P=2^20). Candidate lists
// are not stored: Preference computes entries beyond the owners on demand.
// A build needs transient memory of about 12·P·N bytes when capacities bind.
package ring
