// Package bench is DistriData's load generator: the engine behind
// `distridata bench`.
//
// It drives a server over raw net.Conn connections with a lean pipelined
// driver per connection: a writer goroutine encodes a batch of requests
// into one buffer and sends it with one write, and a reader goroutine
// decodes replies and matches them to requests by ID (or by order, for
// RESP). It speaks three dialects:
//
//   - distridata: the client protocol of the daemon (HELLO, PUT, GET);
//   - node: a storage node's replica operations (RPUT, RGET) with
//     versions from a local hybrid logical clock, to measure a node alone;
//   - redis: RESP SET and GET, so redis-server and twemproxy are measured
//     by the same method as DistriData.
//
// Two load models exist. The closed loop keeps Pipeline requests in flight
// per connection: each reply frees a slot, and the writer refills all free
// slots with one write. The open loop (Rate > 0) gives every request an
// intended send time on a fixed schedule and measures latency from that
// time, so a server that stalls cannot hide the queueing it causes
// (coordinated omission).
//
// Latencies go into HDR histograms kept by the reader goroutines and merged
// at the end. Only replies whose outcome is ok (OK, NOT_FOUND, SUPERSEDED)
// count as operations and go into the histograms; everything else is
// counted by status name as an error.
package bench
