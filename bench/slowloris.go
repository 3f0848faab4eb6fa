package bench

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/protocol"
)

// slowloris is HoldIdle with cfg.Trickle set: it opens cfg.Conns plain
// connections, then writes one byte of a HELLO to each open one every
// cfg.Trickle, and counts the connections the daemon closes, until all
// are closed, cfg.Hold passes or ctx ends. It owns one watcher goroutine
// per connection (a blocked read that sees the close at once) and closes
// every connection and waits for every watcher before it returns.
func slowloris(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	var res IdleResult
	var conns []net.Conn
	for range cfg.Conns {
		if ctx.Err() != nil {
			break
		}
		nc, err := dial(ctx, cfg.Addr, cfg.TLS, cfg.DialTimeout)
		if err != nil {
			res.Refused++
			if res.FirstErr == nil {
				res.FirstErr = err
			}
			continue
		}
		conns = append(conns, nc)
	}
	res.Opened = len(conns)
	start := time.Now()
	dead := make([]atomic.Bool, len(conns))
	closed := make(chan time.Duration, len(conns)) // one send per watcher, never blocks
	var wg sync.WaitGroup
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
		wg.Wait()
	}()
	for i, nc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			watchClose(nc, &dead[i], start, closed)
		}()
	}
	hello := protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.ProtocolVersion, Role: protocol.RoleClient, Token: cfg.Token})
	hold := time.NewTimer(cfg.Hold)
	defer hold.Stop()
	tick := time.NewTicker(cfg.Trickle)
	defer tick.Stop()
	sent := make([]int, len(conns)) // HELLO bytes each connection has written
	for res.Closed < res.Opened {
		select {
		case d := <-closed:
			res.Closed++
			res.LastClose = d
		case <-tick.C:
			trickleByte(conns, dead, sent, hello, cfg.Trickle)
		case <-hold.C:
			return res, nil
		case <-ctx.Done():
			return res, nil
		}
	}
	return res, nil
}

// watchClose blocks reading nc (a slowloris is never answered) until the
// peer closes it or we do, then marks it dead and reports when.
func watchClose(nc net.Conn, dead *atomic.Bool, start time.Time, closed chan<- time.Duration) {
	var b [64]byte
	for {
		if _, err := nc.Read(b[:]); err != nil {
			break
		}
	}
	dead.Store(true)
	closed <- time.Since(start)
}

// trickleByte writes the next byte of hello to every connection still
// open, never the last one, so each frame stays incomplete. Each write is
// bounded by one trickle period so a full socket cannot stall the round;
// a write that timed out before its byte went is retried on the next tick
// (counting it as sent would leave the peer waiting for a byte that never
// comes, and the HELLO malformed).
func trickleByte(conns []net.Conn, dead []atomic.Bool, sent []int, hello []byte, period time.Duration) {
	for i, nc := range conns {
		if dead[i].Load() || sent[i] >= len(hello)-1 {
			continue
		}
		nc.SetWriteDeadline(time.Now().Add(period))
		n, _ := nc.Write(hello[sent[i] : sent[i]+1]) // a failure shows as a close to its watcher
		sent[i] += n
	}
}
