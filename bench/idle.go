package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// IdleConfig shapes HoldIdle: many connections that finish HELLO and then
// send nothing, to measure what an idle connection costs a daemon (its
// RSS per connection) and that max-conns refuses the one past the limit.
type IdleConfig struct {
	Addr        string        // daemon host:port
	Conns       int           // connections to open; > 0
	Hold        time.Duration // how long to keep them open once all are tried; > 0
	DialTimeout time.Duration // per connection dial + HELLO; 0 means 2 s
	Token       []byte        // HELLO token, if the daemon requires one
	TLS         *tls.Config   // TLS to the daemon's TLS listener; nil = plain TCP
	// Trickle, when > 0, makes them slowloris connections instead: no
	// HELLO exchange, but one byte of a HELLO every Trickle on each
	// connection (never its last byte, so the frame never completes),
	// until the daemon closes it or Hold passes. 0 = idle after HELLO.
	Trickle time.Duration
}

// IdleResult counts what HoldIdle achieved.
type IdleResult struct {
	Opened   int   // connections whose HELLO was answered OK
	Refused  int   // connections refused (dial error, or HELLO not OK)
	FirstErr error // the first refusal's error, for the report
	// With Trickle: connections the daemon closed during Hold, and when
	// the last of them closed, counted from when all had been opened.
	Closed    int
	LastClose time.Duration
}

// HoldIdle opens cfg.Conns connections one after another, completes HELLO
// on each, holds them open for cfg.Hold (or until ctx ends), then closes
// them all. It owns every connection it opens and closes each before it
// returns. Run it in a process of its own: each connection is a file
// descriptor, and this machine allows 20,000 per process.
func HoldIdle(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	if cfg.Conns <= 0 || cfg.Hold <= 0 || cfg.Addr == "" {
		return IdleResult{}, fmt.Errorf("%w: idle needs an address, conns > 0 and hold > 0", ErrInvalidConfig)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.Trickle > 0 {
		return slowloris(ctx, cfg)
	}
	codec := &frameCodec{token: cfg.Token}
	conns := make([]net.Conn, 0, cfg.Conns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var res IdleResult
	for range cfg.Conns {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		nc, err := dial(ctx, cfg.Addr, cfg.TLS, cfg.DialTimeout)
		if err == nil {
			err = codec.handshake(nc, time.Now().Add(cfg.DialTimeout))
			if err != nil {
				nc.Close()
			}
		}
		if err != nil {
			res.Refused++
			if res.FirstErr == nil {
				res.FirstErr = err
			}
			continue
		}
		conns = append(conns, nc)
		res.Opened++
	}
	t := time.NewTimer(cfg.Hold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return res, nil
}
