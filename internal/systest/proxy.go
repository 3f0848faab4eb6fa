package systest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
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

// Proxy is one toxiproxy TCP proxy on a 127.0.0.1 port.
type Proxy struct {
	Name string
	p    *toxiproxy.Proxy
}

// newProxy starts a proxy from a free port to upstream. t.Cleanup stops
// it (which closes every connection through it).
func newProxy(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	p := toxiproxy.NewProxy(toxiServer(), name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("systest: cannot start proxy %s: %v", name, err)
	}
	t.Cleanup(p.Stop)
	return &Proxy{Name: name, p: p}
}

// Addr is the proxy's listen address.
func (x *Proxy) Addr() string { return x.p.Listen }

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
	return fmt.Sprintf("proxy %s %s→%s", x.Name, x.p.Listen, x.p.Upstream)
}
