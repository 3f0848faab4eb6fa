package replica

import (
	"errors"

	"github.com/distridata/distridata/protocol"
)

// Sentinel errors. Each carries the wire status it is reported as, so
// protocol.StatusOf is still the one place where errors become statuses.
// Callers branch with errors.Is or on protocol.StatusOf(err).Outcome().
//
// A bad per-request quorum (w or r outside 0..N) is reported as
// protocol.ErrBadQuorum, and an empty key as protocol.ErrEmptyKey, both
// BAD_REQUEST: the daemon already knows those sentinels from decoding.
var (
	// ErrNotFound: the newest version among R answers is a tombstone, or no
	// replica has the key. Get returns the tombstone's version with it (zero
	// when the key was never written).
	ErrNotFound = protocol.NewError(protocol.StatusNotFound, "replica: not found")
	// ErrUnavailable: fewer than W (or R) owners are up, so nothing was
	// sent. Outcome failed: safe to retry as-is.
	ErrUnavailable = protocol.NewError(protocol.StatusUnavailable, "replica: too few replicas up")
	// ErrTimeout: the deadline passed (or the caller gave up) before the
	// quorum answered, and no replica failed outright. Outcome unknown.
	ErrTimeout = protocol.NewError(protocol.StatusTimeout, "replica: deadline passed before quorum")
	// ErrPartial: fewer than W (or R) replicas answered and some failed; a
	// write may be applied on some replicas. Outcome unknown.
	ErrPartial = protocol.NewError(protocol.StatusPartial, "replica: too few replicas answered")
	// ErrBusy: every replica refused the request as busy before doing any
	// work. Outcome failed.
	ErrBusy = protocol.NewError(protocol.StatusBusy, "replica: replicas busy")
	// ErrWrongEpoch: every replica refused the request and at least one
	// refused it for a stale ring epoch: the daemon should load the newer
	// ring. Outcome failed.
	ErrWrongEpoch = protocol.NewError(protocol.StatusWrongEpoch, "replica: ring epoch is stale")
	// ErrRejected: every replica refused the request before applying it
	// (BAD_REQUEST, TOO_LARGE, UNAUTHORIZED between daemon and node). It is
	// reported as UNAVAILABLE, not BAD_REQUEST, because the client's request
	// may be fine: the fault is between daemon and nodes. Outcome failed.
	ErrRejected = protocol.NewError(protocol.StatusUnavailable, "replica: replicas refused the request")
	// ErrClosed: the Coordinator is closed; nothing was sent.
	ErrClosed = protocol.NewError(protocol.StatusUnavailable, "replica: coordinator closed")
	// ErrBadReply: a node answered with a result count that does not match
	// its request. It may have applied the items: outcome unknown.
	ErrBadReply = protocol.NewError(protocol.StatusInternal, "replica: malformed reply from node")
)

// Configuration errors (never on the wire: New refuses to start).
var (
	ErrConfig       = errors.New("replica: invalid config")
	ErrRingReplicas = errors.New("replica: ring replica count differs from N")
	ErrNilRing      = errors.New("replica: nil ring")
	ErrRingShape    = errors.New("replica: rings differ in partitions or replicas")
	ErrNoPending    = errors.New("replica: no pending ring")
)
