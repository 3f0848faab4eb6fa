package bench

import "errors"

var (
	// ErrInvalidConfig wraps every Config.Validate failure.
	ErrInvalidConfig = errors.New("bench: invalid config")
	// ErrHandshake means the server refused or garbled the HELLO (or the
	// RESP AUTH) on a new connection.
	ErrHandshake = errors.New("bench: handshake failed")
	// ErrBadReply means a reply could not be decoded or matched to a
	// request: the stream cannot be trusted, so the connection stops.
	ErrBadReply = errors.New("bench: bad reply")
	// ErrConnLost means a connection failed while requests were in flight.
	ErrConnLost = errors.New("bench: connection lost")
)
