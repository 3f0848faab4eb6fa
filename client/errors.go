package client

import (
	"errors"
	"fmt"

	"github.com/distridata/distridata/protocol"
)

// Sentinel errors. Callers branch with errors.Is; every error a call
// returns, apart from ErrNotFound, is in exactly one of the two classes
// ErrFailed and ErrUnknownOutcome, because that is the one thing a caller
// must decide on: retry as is, or find out what happened first.
var (
	// ErrFailed is the class of errors after which the operation was
	// definitely applied nowhere: it is safe to retry as is. Server
	// statuses of the failed outcome (BUSY, UNAVAILABLE, TOO_LARGE, ...),
	// requests refused locally, and requests that never left this process
	// are in it.
	ErrFailed = errors.New("client: operation failed, not applied")
	// ErrUnknownOutcome is the class of errors after which a write may or
	// may not have been applied (TIMEOUT, PARTIAL, INTERNAL, or a write
	// that was sent before its connection dropped or its context ended).
	// Read the key back, or retry only if the write is idempotent.
	ErrUnknownOutcome = errors.New("client: outcome unknown, the operation may have been applied")
	// ErrNotFound: the key has no live value (GET, DEL with NOT_FOUND).
	ErrNotFound = errors.New("client: not found")
	// ErrClosed: the connection is closed, by Close or because it broke.
	// Every pending call fails with it. It is in ErrUnknownOutcome for a
	// write whose frame may have reached the socket, and in ErrFailed
	// otherwise (reads, and writes still queued in this process).
	ErrClosed = errors.New("client: connection closed")
	// ErrProtocol: the server broke the protocol (a malformed frame, a
	// reply to a request never sent, a reply with the wrong opcode). The
	// connection is closed, since the stream can no longer be trusted.
	ErrProtocol = errors.New("client: protocol violation by server")
	// ErrHandshake: the HELLO exchange failed (the server refused it, or
	// its reply was not a valid HELLO reply).
	ErrHandshake = errors.New("client: handshake failed")
	// ErrBadOptions: an Options or CallOption value is out of range.
	ErrBadOptions = errors.New("client: bad options")
)

// StatusError is a non-OK status, from the server or from a check done
// locally against the server's limits (Local). errors.Is matches it
// against ErrNotFound, ErrFailed and ErrUnknownOutcome by its Outcome
// class, so callers rarely need to look at the status itself.
type StatusError struct {
	Op     protocol.Opcode
	Status protocol.Status
	// Local is true when the client refused the request before sending it
	// (for example a value over the server's MaxValueSize).
	Local bool
	// Err is the local cause, if any (for example protocol.ErrValueTooLarge).
	Err error
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("client: %v: status %v (outcome %v)", e.Op, e.Status, e.Status.Outcome())
	if e.Local {
		s += ", refused locally"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the local cause, if any.
func (e *StatusError) Unwrap() error { return e.Err }

// Is matches the class sentinels by the status's Outcome.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == protocol.StatusNotFound
	case ErrFailed:
		return e.Status.Outcome() == protocol.OutcomeFailed
	case ErrUnknownOutcome:
		return e.Status.Outcome() == protocol.OutcomeUnknown
	}
	return false
}

// Check returns nil for an OK status and a *StatusError otherwise. It
// turns the per-item statuses of MPut and MGet into errors.
func Check(op protocol.Opcode, s protocol.Status) error {
	if s == protocol.StatusOK {
		return nil
	}
	return &StatusError{Op: op, Status: s}
}

// localError refuses a request before it is sent: the status is the one
// the server would have answered, so the caller sees the same class.
func localError(op protocol.Opcode, cause error) error {
	return &StatusError{Op: op, Status: protocol.StatusOf(cause), Local: true, Err: cause}
}

// callError is a call that ended without a reply: its connection closed,
// its context ended, or its deadline passed. Whether it may have been
// applied is known only locally: a write whose frame may have reached the
// socket is unknown; everything else failed.
type callError struct {
	op      protocol.Opcode
	err     error
	unknown bool
}

func (e *callError) Error() string {
	class := "failed: not applied"
	if e.unknown {
		class = "outcome unknown: may have been applied"
	}
	return fmt.Sprintf("client: %v: %v (%s)", e.op, e.err, class)
}

func (e *callError) Unwrap() error { return e.err }

func (e *callError) Is(target error) bool {
	switch target {
	case ErrUnknownOutcome:
		return e.unknown
	case ErrFailed:
		return !e.unknown
	}
	return false
}

// isWrite reports whether op changes data, so that losing its reply after
// it was sent makes its outcome unknown.
func isWrite(op protocol.Opcode) bool {
	return op == protocol.OpPut || op == protocol.OpDel || op == protocol.OpMPut
}
