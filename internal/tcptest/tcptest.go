// Package tcptest runs throwaway TCP servers for tests: a listener on
// 127.0.0.1 whose connections a handler serves, owned by the test. Test
// code only.
package tcptest

import (
	"net"
	"sync"
	"testing"
)

// Serve listens on 127.0.0.1:0 and runs handle on a goroutine of its own
// for every connection until the test ends. Cleanup closes the listener
// and every connection and waits for every goroutine, so a handler only
// has to return once its connection fails. It returns the address.
func Serve(tb testing.TB, handle func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() { handle(nc) })
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
