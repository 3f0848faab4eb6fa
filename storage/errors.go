package storage

import "github.com/distridata/distridata/protocol"

// Sentinel errors of the storage package. Each carries the wire status it
// is reported as (protocol.StatusOf maps it); callers branch with errors.Is.
var (
	// ErrFailed means the node has seen a write or sync error and stopped
	// accepting writes (fail-stop): the disk can no longer be trusted to
	// hold what it acknowledged, so it acknowledges nothing more.
	ErrFailed = protocol.NewError(protocol.StatusInternal, "storage: node failed after a disk error")
	// ErrNoSpace means the engine refused to open: its filesystem has too
	// little free space to replay the write-ahead log.
	ErrNoSpace = protocol.NewError(protocol.StatusInternal, "storage: not enough free disk space to open")
	// ErrClosed means the engine or server was closed.
	ErrClosed = protocol.NewError(protocol.StatusInternal, "storage: closed")
	// ErrCorrupt means a stored record could not be decoded.
	ErrCorrupt = protocol.NewError(protocol.StatusInternal, "storage: corrupt record")
	// ErrBadConfig wraps every Config.Validate failure.
	ErrBadConfig = protocol.NewError(protocol.StatusInternal, "storage: invalid config")
	// ErrBadOp means an Op has an unknown kind or an empty key.
	ErrBadOp = protocol.NewError(protocol.StatusBadRequest, "storage: invalid operation")
	// ErrDeadline means a request's deadline had passed when it was
	// dequeued for execution; it was not executed.
	ErrDeadline = protocol.NewError(protocol.StatusTimeout, "storage: deadline passed before execution")
	// ErrBadRole means a HELLO came from something other than a peer
	// daemon: a storage node serves only daemons.
	ErrBadRole = protocol.NewError(protocol.StatusUnauthorized, "storage: only peers may connect to a node")
	// ErrDropRefused means a partition drop was refused because the
	// sender's ring epoch is not the node's current one (or a newer ring
	// is being moved to): nothing was removed.
	ErrDropRefused = protocol.NewError(protocol.StatusWrongEpoch, "storage: partition drop refused for its ring epoch")
	// ErrNotServed means a known opcode that a storage node does not serve
	// (a client operation, or a second HELLO).
	ErrNotServed = protocol.NewError(protocol.StatusBadRequest, "storage: operation not served by a node")
)
