package replica

import (
	"context"

	"github.com/distridata/distridata/protocol"
)

// Backend carries replica items to storage nodes. The daemon plugs in real
// pipelined connections (package link); tests plug in an in-memory backend.
// This is the only way the replication core reaches the outside world, so
// the core itself does no I/O.
type Backend interface {
	// Send delivers items to the node with the given ID as one request (an
	// RBATCH when len(items) > 1, else the single-item opcode) and calls
	// done exactly once, from any goroutine, with one result per item in
	// order, or with Reply.Err set when the request failed as a whole
	// (link down, deadline passed, node busy).
	//
	// Send encodes the items before it returns: the caller may reuse items
	// and the bytes they point to as soon as Send returns. Send may block
	// to wait for room in a bounded queue, but never beyond ctx; when ctx
	// ends first it calls done with ctx's error. ctx's deadline is also
	// the request's deadline on the wire, and when ctx ends before the
	// reply arrives, done is called with the error and the late reply is
	// discarded.
	Send(ctx context.Context, node string, h protocol.ReplicaHeader, items []protocol.Item, done func(Reply))

	// Up reports whether the node is believed reachable. Down nodes are
	// skipped at fan-out; a write still needs W real acknowledgements.
	Up(node string) bool
}

// TransientBackend is a Backend that can also lend a reply's Results: with
// SendTransient, Reply.Results (the slice, not the Values, which still
// belong to the receiver) is valid only until done returns, so the backend
// can reuse its memory. The Coordinator uses SendTransient when its
// Backend has it: its callbacks copy what they keep from each Result.
type TransientBackend interface {
	Backend
	SendTransient(ctx context.Context, node string, h protocol.ReplicaHeader, items []protocol.Item, done func(Reply))
}

// NonBlockingBackend is a TransientBackend that can also refuse to wait:
// TrySendTransient behaves as SendTransient, except that where
// SendTransient would block (no room in the node's window, no connection
// ready) it sends nothing, does not call done and returns false. The
// Coordinator's asynchronous requests (async.go) start with it, so that
// an event loop can start them; a send it refuses, or every send of a
// Backend without it, is made by a goroutine of the Coordinator instead.
type NonBlockingBackend interface {
	TransientBackend
	TrySendTransient(ctx context.Context, node string, h protocol.ReplicaHeader, items []protocol.Item, done func(Reply)) bool
}

// Reply is a storage node's answer to one Send.
type Reply struct {
	Stamp   protocol.ReplicaStamp
	Results []protocol.Result // owned by the receiver, including Values
	Err     error             // set when the request failed as a whole
}
