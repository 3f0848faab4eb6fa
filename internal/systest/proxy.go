package systest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Stream directions of a toxic, as toxiproxy names them: upstream is
// what the proxy's client sends, downstream what it receives.
const (
	Upstream   = "upstream"
	Downstream = "downstream"
)

// toxiServer is the in-process toxiproxy that owns every proxy. It never
// listens on HTTP: tests drive it through Go calls.
var toxiServer = sync.OnceValue(func() *toxiproxy.ApiServer {
	return toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
})

// Proxy is one TCP proxy on a 127.0.0.1 port with toxiproxy's toxics.
// It owns its listener for its whole life, so its port is never free
// for another process to take, and its upstream can change (a restarted
// process binds a new port of its own): SetUpstream. The accept loop is
// ours; each accepted pair of connections is handed to toxiproxy's
// ToxicCollection as two links, exactly as toxiproxy's own proxy does
// (whose upstream cannot change without releasing its listen port).
type Proxy struct {
	Name     string
	ln       net.Listener
	upstream atomic.Pointer[string] // "" while the upstream is down
	p        *toxiproxy.Proxy       // never started: holds the toxics and the links
	done     chan struct{}          // closed when the accept loop returns

	mu     sync.Mutex
	conns  []net.Conn // connections not yet closed (as of the last track), closed by stop
	closed bool
}

// newProxy starts a proxy from a port of its own to upstream. t.Cleanup
// stops it (which closes every connection through it).
func newProxy(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("systest: cannot start proxy %s: %v", name, err)
	}
	x := &Proxy{Name: name, ln: ln, done: make(chan struct{}),
		p: toxiproxy.NewProxy(toxiServer(), name, ln.Addr().String(), upstream)}
	x.upstream.Store(&upstream)
	go x.serve()
	t.Cleanup(x.stop)
	return x
}

// SetUpstream points new connections at addr; "" refuses them (closes
// each at once, as a dead upstream's refused dial would), for while the
// process behind is down and its old port may belong to anyone. Existing
// connections keep their upstream. Any goroutine.
func (x *Proxy) SetUpstream(addr string) { x.upstream.Store(&addr) }

// serve accepts until stop closes the listener. It is the only dialer.
func (x *Proxy) serve() {
	defer close(x.done)
	for {
		client, err := x.ln.Accept()
		if err != nil {
			return // closed by stop
		}
		x.link(client)
	}
}

// link dials the upstream for client and starts the two toxic links.
func (x *Proxy) link(client net.Conn) {
	addr := *x.upstream.Load()
	if addr == "" {
		client.Close()
		return
	}
	up, err := net.DialTimeout("tcp", addr, proxyDialTimeout)
	if err != nil {
		client.Close()
		return
	}
	if !x.track(client, up) {
		return
	}
	name := client.RemoteAddr().String()
	x.p.Toxics.StartLink(toxiServer(), name+"upstream", client, up, stream.Upstream)
	x.p.Toxics.StartLink(toxiServer(), name+"downstream", up, client, stream.Downstream)
}

// proxyDialTimeout bounds a dial of the upstream, which blocks the accept
// loop; a stopped (SIGSTOP) process still completes the handshake in the
// kernel, so only a wedged host could take this long.
const proxyDialTimeout = 2 * time.Second

// track records conns for stop, or closes them if stop already ran. It
// forgets the connections toxiproxy has closed since (a link closes its
// destination when its source ends), so a long run through one proxy
// keeps only the open ones, not every one it ever made.
func (x *Proxy) track(conns ...net.Conn) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	x.conns = slices.DeleteFunc(x.conns, isClosed)
	x.conns = append(x.conns, conns...)
	return true
}

// isClosed reports whether c was closed: a closed socket refuses even a
// no-op Control. (toxiproxy needs the *net.TCPConn itself, so closes
// cannot be observed through a wrapper.)
func isClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	return err != nil || raw.Control(func(uintptr) {}) != nil
}

// tracked is the number of connections track holds.
func (x *Proxy) tracked() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.conns)
}

// stop closes the listener, waits for the accept loop, and closes every
// connection, which ends toxiproxy's link goroutines.
func (x *Proxy) stop() {
	x.ln.Close()
	<-x.done
	x.mu.Lock()
	x.closed = true
	conns := x.conns
	x.conns = nil
	x.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Addr is the proxy's listen address, fixed for its life.
func (x *Proxy) Addr() string { return x.ln.Addr().String() }

// Toxic is one toxic: its toxiproxy type ("latency", "timeout",
// "reset_peer", "slicer", "bandwidth", ...), direction and attributes.
type Toxic struct {
	Name       string
	Type       string
	Stream     string // Upstream or Downstream; "" means Downstream
	Attributes map[string]any
}

// Latency delays every chunk by ms ± jitter milliseconds.
func Latency(stream string, ms, jitter int) Toxic {
	return Toxic{Type: "latency", Stream: stream, Attributes: map[string]any{"latency": ms, "jitter": jitter}}
}

// BlackHole drops every byte and never closes (timeout 0).
func BlackHole(stream string) Toxic {
	return Toxic{Type: "timeout", Stream: stream, Attributes: map[string]any{"timeout": 0}}
}

// ResetPeer resets each connection after data arrives (plus ms).
func ResetPeer(stream string, ms int) Toxic {
	return Toxic{Type: "reset_peer", Stream: stream, Attributes: map[string]any{"timeout": ms}}
}

// Slicer cuts data into pieces of about size ± variation bytes, with
// delayUs microseconds between them.
func Slicer(stream string, size, variation, delayUs int) Toxic {
	return Toxic{Type: "slicer", Stream: stream, Attributes: map[string]any{
		"average_size": size, "size_variation": variation, "delay": delayUs}}
}

// Bandwidth limits the stream to kbps kilobytes per second.
func Bandwidth(stream string, kbps int) Toxic {
	return Toxic{Type: "bandwidth", Stream: stream, Attributes: map[string]any{"rate": kbps}}
}

// Add installs a toxic on every connection, present and future. Its name
// defaults to type_stream; it returns the name for Remove.
func (x *Proxy) Add(t testing.TB, tx Toxic) string {
	t.Helper()
	if tx.Stream == "" {
		tx.Stream = Downstream
	}
	if tx.Name == "" {
		tx.Name = tx.Type + "_" + tx.Stream
	}
	body, err := json.Marshal(map[string]any{
		"name": tx.Name, "type": tx.Type, "stream": tx.Stream, "toxicity": 1.0, "attributes": tx.Attributes})
	if err != nil {
		t.Fatalf("systest: %v", err)
	}
	if _, err := x.p.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
		t.Fatalf("systest: cannot add toxic %s to %s: %v", tx.Name, x.Name, err)
	}
	return tx.Name
}

// Remove takes a toxic away (heals).
func (x *Proxy) Remove(t testing.TB, name string) {
	t.Helper()
	if err := x.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		t.Fatalf("systest: cannot remove toxic %s from %s: %v", name, x.Name, err)
	}
}

// Clear removes every toxic.
func (x *Proxy) Clear() { x.p.Toxics.ResetToxics(context.Background()) }

func (x *Proxy) String() string {
	return fmt.Sprintf("proxy %s %s→%s", x.Name, x.Addr(), *x.upstream.Load())
}
