// Package repair brings replicas back into agreement after the replication
// core could not: hinted handoff for owners that missed a write, periodic
// anti-entropy per partition, and the data movement of a membership change.
//
//   - Hints (hints.go, replay.go): replica.Config.OnMiss reports each owner
//     that missed a write that may have landed. Hints persists one hint per
//     (node, partition, key), keeping the newest version, in a Pebble DB
//     under the daemon's data directory, bounded in age and total size
//     (beyond them hints are dropped and counted: anti-entropy repairs
//     those keys). A replay goroutine sends each node's hints, throttled,
//     as versioned RPUT/RDEL once the node is up, and deletes each hint
//     the node acknowledges (OK, or SUPERSEDED: it already has newer).
//   - Anti-entropy (antientropy.go, merge.go): per partition, compare the
//     owners' RDIGESTs; on a mismatch, narrow it down through hash buckets
//     (RBUCKETS) until a differing bucket fits Config.MaxScanKeys, scan
//     that bucket's keys and versions on every owner, merge, fetch the
//     newest value of each key from an owner that has it and write it,
//     with its version, to the owners that lack it. Memory per step is
//     bounded by MaxScanKeys keys, whatever the partition's size.
//     Versioned writes make every repair safe against concurrent writes: a
//     node answers SUPERSEDED instead of going back in time.
//   - Rebalancing (rebalance.go): for a ring change, the coordinator
//     dual-writes moving partitions (replica.Coordinator.SetPending) while
//     each moving partition is streamed from its current owners to the
//     owners the new ring adds, then the new ring is committed.
//
// Every goroutine here is owned by the type that starts it and stopped
// and waited for by its Close; every queue and batch has a named bound.
package repair
