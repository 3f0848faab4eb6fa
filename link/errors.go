package link

import (
	"errors"
	"fmt"

	"github.com/distridata/distridata/protocol"
)

// Errors a Send can complete with. Their wire status carries the outcome
// class the replication core branches on: a request that was never written
// to a socket has a failed-class status (safe to retry elsewhere); one that
// was written and then lost its connection has an unknown-class status (the
// node may have applied it). Errors that combine two sentinels list the
// class-bearing one first, so protocol.StatusOf picks its status while
// errors.Is still matches both.
var (
	// ErrClosed: the pool is closed. Alone it means the request was never
	// written; combined with ErrConnLost it was written before the close.
	ErrClosed = protocol.NewError(protocol.StatusUnavailable, "link: pool closed")
	// ErrRemoved: SetNodes removed or re-addressed the node. Same
	// combination rule as ErrClosed.
	ErrRemoved = protocol.NewError(protocol.StatusUnavailable, "link: node removed")
	// ErrUnknownNode: Send named a node that SetNodes never added.
	ErrUnknownNode = protocol.NewError(protocol.StatusUnavailable, "link: unknown node")
	// ErrNodeDown: the node is ejected after repeated failures; nothing
	// was sent. Up reports the same state.
	ErrNodeDown = protocol.NewError(protocol.StatusUnavailable, "link: node down")
	// ErrNoConn: no connection to the node became ready before ctx ended;
	// nothing was sent.
	ErrNoConn = protocol.NewError(protocol.StatusUnavailable, "link: no connection to node")
	// ErrNotWritten: the connection died while the request was still
	// queued, before any byte of it reached the socket.
	ErrNotWritten = protocol.NewError(protocol.StatusUnavailable, "link: connection lost before the request was written")
	// ErrConnLost: the connection died after the request was written.
	// The outcome is unknown, so the status is INTERNAL, never a failed one.
	ErrConnLost = protocol.NewError(protocol.StatusInternal, "link: connection lost after the request was written")
	// ErrBusy: the node's in-flight window stayed full until ctx ended (or
	// ctx was too close to its end to wait); nothing was sent.
	ErrBusy = protocol.NewError(protocol.StatusBusy, "link: node in-flight window full")
	// ErrQueueFull: every connection of the node had QueueLen requests
	// waiting for its writer; nothing was sent.
	ErrQueueFull = protocol.NewError(protocol.StatusBusy, "link: connection queues full")
	// ErrNoItems: Send was given no items.
	ErrNoItems = protocol.NewError(protocol.StatusBadRequest, "link: no items to send")
	// ErrBadItem: an item has an unknown kind.
	ErrBadItem = protocol.NewError(protocol.StatusBadRequest, "link: unknown item kind")
	// ErrBadReply: the node's reply to this request could not be decoded
	// or did not match it. The request may have been applied.
	ErrBadReply = protocol.NewError(protocol.StatusInternal, "link: malformed reply")
	// ErrHelloRefused: the node answered HELLO with a non-OK status.
	ErrHelloRefused = protocol.NewError(protocol.StatusUnavailable, "link: HELLO refused")
	// ErrProtocol: the node broke the connection protocol (a request frame
	// or a wrong HELLO reply); the connection is closed.
	ErrProtocol = protocol.NewError(protocol.StatusInternal, "link: protocol violation by node")
)

// statusErrors holds one error per wire status, so a node's refusal of a
// whole request (BUSY, WRONG_EPOCH, ...) becomes an error that carries that
// exact status without allocating per reply.
var statusErrors = func() (t [256]*protocol.Error) {
	for i := range t {
		s := protocol.Status(i)
		t[i] = protocol.NewError(s, "link: node answered "+s.String())
	}
	return t
}()

// errWouldBlock is send's answer, with noWait, where Send would wait for
// window room or a connection; TrySendTransient turns it into false, so
// it never reaches a caller.
var errWouldBlock = errors.New("link: send would wait")

// NodeStatusError returns the error for a whole request that a node
// answered with status s; protocol.StatusOf(NodeStatusError(s)) == s.
func NodeStatusError(s protocol.Status) error { return statusErrors[s] }

// both wraps two errors; the first one decides the wire status.
func both(class, cause error) error {
	if cause == nil || cause == class {
		return class
	}
	return fmt.Errorf("%w: %w", class, cause)
}

// ErrTLSSwitch: SetTunables would turn TLS on or off; a pool's transport
// is fixed when it is made (see Tunables).
var ErrTLSSwitch = errors.New("link: TLS cannot be turned on or off in a running pool")
