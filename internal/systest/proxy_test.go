package systest

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/distridata/distridata/internal/tcptest"
)

// echoServer echoes every connection until the test ends; cleanup closes
// the listener and every connection and waits for their goroutines.
func echoServer(t *testing.T) string {
	t.Helper()
	return tcptest.Serve(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

// A proxy forgets the connections toxiproxy closed: after 20 connections
// made and closed one at a time, it holds the last pair, not 40.
func TestProxyPrunesClosedConns(t *testing.T) {
	x := newProxy(t, "prune", echoServer(t))
	const rounds = 20
	for i := range rounds {
		c, err := net.DialTimeout("tcp", x.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil { // the pair is tracked
			t.Fatal(err)
		}
		c.Close()
		waitClosed(t, x) // toxiproxy closes both sides of the pair
	}
	if n := x.tracked(); n > 2 {
		t.Fatalf("proxy holds %d connections after %d closed pairs, want at most the last pair", n, rounds)
	}
}

// waitClosed waits until every connection x holds is closed; the bound
// only catches toxiproxy never closing them.
func waitClosed(t *testing.T, x *Proxy) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		x.mu.Lock()
		open := 0
		for _, c := range x.conns {
			if !isClosed(c) {
				open++
			}
		}
		x.mu.Unlock()
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d proxied connections still open", open)
		}
	}
}
