// Package link keeps persistent, pipelined connections from a daemon to
// its storage nodes and implements replica.Backend over them.
//
// Each node gets Config.ConnsPerNode connections. Send encodes a request
// straight into one connection's write buffer (round robin) and registers
// it in that connection's pending table by request ID. The connection's
// writer yields once, then writes every queued frame in one system call;
// its reader decodes replies, copies their values out of the read buffer
// and completes requests in any order. A request whose ctx ends first is
// completed with ctx's error and its late reply is dropped.
//
// Outcome classes follow the protocol: a request never written to a
// socket fails with a failed-class error (ErrNotWritten, ErrBusy, ...);
// one written on a connection that then died fails with ErrConnLost, whose
// class is unknown, because the node may have applied it.
//
// Memory is bounded per node by an in-flight window (requests and bytes,
// from admission to completion) and per connection by QueueLen. Health is
// a count of consecutive failures: at Config.EjectAfter the node is marked
// down, its connections are closed, and each reconnect (dial and HELLO,
// with backoff) is a probe that marks it up again.
//
// Goroutines: per node, one slot goroutine per connection (dial, HELLO,
// then the writer), one reader per live connection, and one sweeper that
// fails pending requests whose ctx ended (at the earliest pending deadline
// and at least every 10 ms while the node has requests admitted;
// sweep.go); Pool.Close and SetNodes wait for them.
//
// Single-item requests waiting for the same write of a connection are
// coalesced into RBATCH frames (Config.Coalesce; coalesce.go), each
// still completed on its own from its item of the batch reply.
//
// Locks: Pool.mu is held while nodes are started and stopped; node.mu,
// conn.mu and window.mu are leaves and never nest. No lock is held while
// a done callback runs.
package link
