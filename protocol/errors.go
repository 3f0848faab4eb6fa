package protocol

import (
	"context"
	"errors"
	"os"
)

// Error is a protocol error that carries the wire status it maps to.
// Sentinels below are *Error values; compare them with errors.Is.
type Error struct {
	status Status
	msg    string
}

func (e *Error) Error() string { return e.msg }

// Status is the wire status this error is reported as.
func (e *Error) Status() Status { return e.status }

// NewError returns an error that StatusOf maps to s. Other packages use it
// to declare their sentinels, so the error→status mapping stays in StatusOf.
func NewError(s Status, msg string) *Error { return &Error{status: s, msg: msg} }

var (
	// ErrIncomplete means the buffer holds less than one whole frame:
	// read more bytes and call Decode again with the longer buffer.
	ErrIncomplete = NewError(StatusBadRequest, "protocol: incomplete frame")
	// ErrMalformed means the bytes cannot be a valid frame or body. The
	// stream cannot be trusted afterwards: reply BAD_REQUEST and close.
	ErrMalformed = NewError(StatusBadRequest, "protocol: malformed frame")
	// ErrFrameTooLarge means the length prefix exceeds the frame limit. It
	// is detected from the header alone, before any body is read.
	ErrFrameTooLarge = NewError(StatusTooLarge, "protocol: frame too large")
	// ErrKeyTooLarge, ErrValueTooLarge and ErrBatchTooLarge report a field
	// over its limit in an otherwise well-formed frame.
	ErrKeyTooLarge   = NewError(StatusTooLarge, "protocol: key too large")
	ErrValueTooLarge = NewError(StatusTooLarge, "protocol: value too large")
	ErrBatchTooLarge = NewError(StatusTooLarge, "protocol: too many keys in batch")
	// ErrEmptyKey: keys are at least one byte long.
	ErrEmptyKey = NewError(StatusBadRequest, "protocol: empty key")
	// ErrBadQuorum: W or R outside 0..N.
	ErrBadQuorum = NewError(StatusBadRequest, "protocol: quorum out of range")
	// ErrChecksum means a body's CRC-32C did not match.
	ErrChecksum = NewError(StatusBadRequest, "protocol: checksum mismatch")
	// ErrUnknownOpcode: the opcode is not one this version defines.
	ErrUnknownOpcode = NewError(StatusBadRequest, "protocol: unknown opcode")
	// ErrBadMagic and ErrVersion are HELLO failures.
	ErrBadMagic = NewError(StatusBadRequest, "protocol: bad hello magic")
	ErrVersion  = NewError(StatusBadRequest, "protocol: unsupported protocol version")
	// ErrHelloFirst: a connection must start with HELLO.
	ErrHelloFirst = NewError(StatusUnauthorized, "protocol: HELLO required first")
	// ErrUnauthorized: the HELLO token was missing or wrong.
	ErrUnauthorized = NewError(StatusUnauthorized, "protocol: unauthorized")
)

// StatusOf maps an error to the wire status that reports it. It is the one
// place where Go errors become protocol: error text never goes on the wire.
// nil is OK; an error with a Status method reports that status; deadlines
// are TIMEOUT (the outcome is unknown); anything else is INTERNAL.
func StatusOf(err error) Status {
	if err == nil {
		return StatusOK
	}
	var s interface{ Status() Status }
	if errors.As(err, &s) {
		return s.Status()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return StatusTimeout
	}
	if errors.Is(err, context.Canceled) {
		return StatusTimeout
	}
	return StatusInternal
}
