// Package daemon is DistriData's coordinator process: the gnet event-loop
// front end that speaks the client protocol, plus the assembly that wires
// the ring, the backend link pool and the replication core behind it.
//
// # Data path
//
// A gnet event loop owns each client connection. OnTraffic decodes every
// whole frame that is buffered, checks it against protocol.Limits, copies
// what must outlive the callback exactly once (into a size-class pooled
// buffer), and starts the request. PUT, DEL and GET start on the loop
// through the replication core's non-blocking calls (StartPut, ...): its
// sends never wait (a send that would is made by a core goroutine), and
// the replica callback that decides the request queues its reply, so no
// goroutine waits per request. MPUT and MGET, and every request of a
// Store without those calls, go to a worker goroutine that calls the
// Store and waits. The loop never blocks.
//
// Completions append their reply frames to the connection's output buffer
// under a mutex and wake the loop once (Conn.Wake); the woken OnTraffic
// writes everything queued with one Write. Replies carry the request ID and
// may leave out of order.
//
// # Backpressure (gnet cannot pause a connection; DESIGN §7)
//
//   - each connection has a window of in-flight requests and bytes; when it
//     is full the loop stops decoding (bytes stay in gnet's inbound buffer)
//     and the next completion's wake-up resumes it;
//   - an output window does the same while the connection's unread replies
//     (queued, and estimated for requests in flight) pass OutputWindow; an
//     output watcher goroutine wakes the loop to resume once the client
//     reads, since gnet does not say when its outbound buffer drains, and
//     a connection whose replies make no progress for OutputTimeout is
//     closed (output.go);
//   - hard caps on a connection's inbound and outbound buffered bytes close
//     it with a logged reason; behind a full output window, input past
//     MaxInboundBuffered - MaxFrameSize already does;
//   - a global memory budget over the request payloads in flight and the
//     replies queued for slow readers answers BUSY instead of queueing more;
//   - a sweeper on gnet's ticker closes connections whose partial frame is
//     older than FrameTimeout (slowloris) or that stay idle longer than
//     IdleTimeout. It reads the daemon's own registry, never Conn.Context
//     (gnet race #723).
//
// # Operability
//
// Config.Admin serves /metrics (a Prometheus collector that reads the
// counters above at scrape time; the request path only bumps sharded
// atomics, metrics.go), /healthz, /readyz (every partition has max(W, R)
// owners up), /explain?key= (each owner's copy, read directly) and
// /debug/pprof/. Config.TLSListen serves clients over crypto/tls on net:
// a reader and a writer goroutine per connection stand in for the loop
// and use the same session code (tls.go). Reload applies a membership
// change through the rebalancer at epoch+1, then the live settings
// (limits, windows, budgets, timeouts, token, default quorums): they sit
// in an immutable snapshot behind an atomic pointer (tunables.go) that a
// loop loads once per wake-up, a request keeps from admission to reply,
// and the sweeper loads once per tick. Fields that size what is built
// need a restart (reload.go).
//
// # Goroutines
//
// Daemon owns: the gnet engine (gnet.Run in one goroutine, its loops and
// ticker), the output watcher, one worker goroutine per in-flight MPUT or
// MGET (bounded by the windows and the memory budget), the admin HTTP server,
// the TLS accept loop and two goroutines per TLS connection, and whatever the link pool, the
// coordinator and the repair package own. Shutdown stops and waits for
// all of them.
package daemon
