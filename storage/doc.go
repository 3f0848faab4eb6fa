// Package storage is a DistriData storage node: a durable (pebble) or
// in-memory engine of versioned values per ring partition, served to
// daemons over the replica operations of package protocol (RPUT, RDEL,
// RGET, RBATCH, RSCAN, RDIGEST, REPOCH, RDROP, plus HELLO, PING and STATS).
//
// # Semantics
//
// Last writer wins by protocol.Version: a write whose version is not newer
// than the stored one is not applied and is answered SUPERSEDED with the
// stored version. Deletes store tombstones, collected once their version's
// wall time is older than Config.TombstoneGrace. Read-modify-write is
// atomic per key: the pebble engine serialises its writers, the memory
// engine locks the key's shard.
//
// # Ring epochs
//
// The node keeps, durably, the ring epoch a daemon last committed with
// REPOCH, and refuses requests from older rings with WRONG_EPOCH
// (epoch.go). RDROP removes a partition the committed ring no longer
// places here, only under that epoch and only while no newer ring is
// being moved to; the check is made under the engine's write lock.
//
// # Durability
//
// With Sync "always" a write is acknowledged only after the fsync that
// made it durable; writes arriving together share one fsync (group
// commit). Any write or sync error fails the node: from then on every
// write is answered INTERNAL and the fsync is never retried, while reads
// are still served; FailStop tells the owner, and `distridata node` then
// exits (code 4) so that a restart recovers from the WAL alone. A full
// disk (ENOSPC) is such an error. OpenPebble refuses a filesystem without
// room to replay the WAL (ErrNoSpace) rather than hang in pebble's Open.
// Sync "none" acknowledges before syncing (caches and benchmarks only).
//
// # Goroutines
//
// All are owned by the Server and waited for by Shutdown:
//
//   - accept loop: registers connections;
//   - per connection, a reader (decodes frames, runs reads, and runs
//     memory-engine writes inline) and a writer (sends every queued reply
//     in one write per wake-up);
//   - committer: forms groups of pebble writes from a bounded queue and
//     applies each as one batch;
//   - syncer: waits for a group's fsync, then answers it, so the committer
//     applies the next group meanwhile;
//   - tombstone GC.
//
// Flow control is per connection: a request holds an in-flight slot and
// its bytes (and its reply's) until its reply is written; when either
// budget is spent the reader stops reading and TCP pushes back.
//
// Lock order: an engine's gcMu before its write lock (Pebble.mu, or a
// memory shard's mu). Server.mu and conn.mu are leaves: nothing is locked
// while they are held.
package storage
