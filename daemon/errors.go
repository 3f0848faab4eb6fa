package daemon

import (
	"errors"

	"github.com/distridata/distridata/protocol"
)

// Sentinel errors. Those that reach a client carry their wire status
// (protocol.NewError), so protocol.StatusOf stays the one mapping.
var (
	// ErrBusy sheds a request: the daemon's memory budget is spent, or it
	// is draining, or it has too many connections.
	ErrBusy = protocol.NewError(protocol.StatusBusy, "daemon: busy")
	// ErrRole refuses a HELLO from a peer role: a daemon serves clients;
	// daemons talk to storage nodes, not to each other.
	ErrRole = protocol.NewError(protocol.StatusBadRequest, "daemon: HELLO role must be client")
	// ErrConfig wraps every configuration error from Validate.
	ErrConfig = errors.New("daemon: invalid config")
	// ErrClosed is returned by operations on a daemon that has shut down.
	ErrClosed = errors.New("daemon: closed")
)
