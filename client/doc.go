// Package client is the Go client of a DistriData daemon.
//
// A Conn is one TCP connection (TLS with Options.TLS, to the daemon's
// --tls-listen address) that any number of goroutines share.
// Requests are pipelined: each carries a request ID, the daemon answers in
// whatever order its replicas finish, and the Conn's reader goroutine
// matches replies to calls by ID. Pool spreads calls over several Conns.
//
//	c, err := client.Dial(ctx, "127.0.0.1:7379", client.DefaultOptions())
//	v, err := c.Put(ctx, key, value, client.WithQuorum(2))
//	val, v, err := c.Get(ctx, key)
//
// # Goroutines
//
// A Conn owns two goroutines. The writer batches: callers append encoded
// frames to a shared buffer and wake it; it yields once when more calls
// are in flight than frames are queued (so that callers about to queue
// join the batch), then writes the whole buffer with one syscall. The
// reader decodes replies, opens sealed ones, and ends their calls. Close
// stops both and waits for them.
//
// # Windows and deadlines
//
// At most Options.MaxInFlight calls are outstanding per Conn, and at most
// Options.MaxQueuedBytes of requests wait to be written; a call waits for
// both within its context. Every call has a deadline: its context's, else
// Options.Timeout, or WithDeadline's. The deadline is sent to the daemon
// in milliseconds, so that replicas drop work nobody waits for. A call
// that ends without its reply (deadline, cancellation) frees its window
// slot at once; its late reply is dropped and counted (Counters).
//
// # Errors
//
// Branch with errors.Is on the outcome class, never on error text:
//
//   - ErrNotFound: the key has no live value.
//   - ErrFailed: applied nowhere; safe to retry as is.
//   - ErrUnknownOutcome: a write that may have been applied (the server
//     said TIMEOUT, PARTIAL or INTERNAL, or the call ended without a
//     reply after its frame was handed to the socket).
//
// A server status is a *StatusError; a request over the server's limits
// (learnt from HELLO) is refused locally with the status the server would
// have given, TOO_LARGE or BAD_REQUEST. When a Conn closes, every pending
// call fails with an error that matches ErrClosed and also one class:
// ErrUnknownOutcome for a PUT, DEL or MPUT whose frame may have reached the
// socket, ErrFailed for reads and for writes still queued in the client.
// The same rule classifies a call ended by its context or deadline.
//
// The package clienttest provides a fake daemon for tests.
package client
