// Package replica is DistriData's replication core: it routes each key
// through the ring to its N owners, fans out to them in parallel through a
// Backend, and completes at W acknowledgements (writes) or R answers
// (reads). It does no I/O of its own; the daemon plugs in real links, and
// tests plug in replicatest's in-memory nodes.
//
// # One request
//
// A request takes one ring snapshot (a concurrent SetRing does not affect
// it), finds each key's partition and owners, and skips the owners the
// Backend reports down. If fewer than W (or R) are up, it fails at once
// with ErrUnavailable: nothing was sent, so the outcome is failed. Else it
// sends one Send per node, carrying all of that node's items (one RBATCH
// for MPUT/MGET), with the ring epoch and the remaining deadline in the
// header. The deadline is the caller's, or Config.Timeout when ctx has
// none. Replies arrive through callbacks into pooled per-request state; no
// goroutine runs per replica call. Once every key is decided the request
// returns and cancels the calls still outstanding: their answers are late
// and ignored (a write already sent may still be applied by its node).
//
// # Writes
//
// Each write gets a fresh version {clock.Now(), Config.Origin}; every
// version and reply clock seen is observed, so a lagging clock catches up.
// A replica's OK and SUPERSEDED both count as acks. SUPERSEDED means the
// replica already stores a newer version; under last-writer-wins its state
// is then max(stored, ours) = stored, exactly as if our write had been
// applied and then overwritten, so our write is ordered (before the newer
// one) and can never resurface. Put still returns our version.
//
// A write short of W acks is never reported failed if it may have landed:
// TIMEOUT when the replicas were merely slow (no answer, or the deadline's
// error), PARTIAL when some failed; both have outcome unknown. Only when
// every replica refused before applying anything (a failed-class status
// or link error, none acked, none unknown) is the outcome failed:
// ErrWrongEpoch, ErrBusy or ErrRejected. Errors after sending, such as a
// reset link, are always unknown. One rate-limited Warn line per request
// names each replica and what it said.
//
// # Reads
//
// A read decides at R answers (OK or NOT_FOUND), then takes the newest
// version among all answers received so far; a tombstone, or no version,
// is ErrNotFound (with the tombstone's version). Before answering it
// writes that version (ItemPut, or ItemDel for a tombstone, with the same
// version) to every answering replica that had an older one or none, and
// waits for those repairs within the deadline: after a read returns a
// version, the R replicas that answered hold it, so a later read whose
// quorum intersects them (R + R' > N) cannot go back in time. A repair that fails is counted and does not fail the read
// (it then weakens that guarantee; hints and anti-entropy are the
// backstop). First-round answers that arrive during the repair and
// disagree with the version returned start a background repair: a re-read
// of every owner with blocking repair, bounded by Config.MaxAsyncRepairs
// (beyond it, dropped and counted) and waited for by Close.
//
// # Ring epochs
//
// Storage nodes refuse requests from a ring older than the one they have
// committed (WRONG_EPOCH). Keys refused that way are retried once on the
// coordinator's current ring when it is newer, with the same version
// (epoch.go); when it is not, this daemon is behind another one: the
// answer is WRONG_EPOCH (outcome failed) and an error line says to reload.
// Writes made while a ring change is pending carry the next ring's epoch.
//
// # Concurrency
//
// All Coordinator methods are safe for concurrent use. Put, Del, Get,
// MPut and MGet block until decided, so call them from worker goroutines,
// never from an event loop. StartPut, StartDel and StartGet run the same
// requests without blocking and answer through a callback from the
// goroutine that decides them, usually a link reader (async.go); the
// daemon starts them on its event loop. Lock order: op.mu, then
// Coordinator.bgMu.
package replica
