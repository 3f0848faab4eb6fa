package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

func TestHoldIdleOpensAndCloses(t *testing.T) {
	srv := &fakeServer{t: t}
	addr := srv.start()
	res, err := HoldIdle(context.Background(), IdleConfig{Addr: addr, Conns: 40, Hold: 50 * time.Millisecond})
	if err != nil || res.Opened != 40 || res.Refused != 0 {
		t.Fatalf("opened %d refused %d err %v, want 40/0/nil", res.Opened, res.Refused, err)
	}
}

func TestHoldIdleCountsRefusedHello(t *testing.T) {
	srv := &fakeServer{t: t, helloStatus: protocol.StatusBusy}
	addr := srv.start()
	res, err := HoldIdle(context.Background(), IdleConfig{Addr: addr, Conns: 5, Hold: time.Millisecond})
	if err != nil || res.Opened != 0 || res.Refused != 5 || !errors.Is(res.FirstErr, ErrHandshake) {
		t.Fatalf("opened %d refused %d first %v err %v", res.Opened, res.Refused, res.FirstErr, err)
	}
}

func TestHoldIdleValidates(t *testing.T) {
	if _, err := HoldIdle(context.Background(), IdleConfig{Addr: "127.0.0.1:1"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err %v, want ErrInvalidConfig", err)
	}
}

// A slowloris connection sends a HELLO one byte per period, never its
// last byte; the daemon's close of each is counted.
func TestHoldIdleTrickleCountsCloses(t *testing.T) {
	const conns, upTo = 8, 3 // the server closes each after 3 bytes
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, conns)
	go func() {
		for range conns {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				b := make([]byte, upTo)
				_, err := io.ReadFull(nc, b)
				if err != nil {
					b = nil
				}
				got <- b
			}()
		}
	}()
	res, err := HoldIdle(context.Background(), IdleConfig{Addr: ln.Addr().String(), Conns: conns,
		Hold: 10 * time.Second, Trickle: 5 * time.Millisecond})
	if err != nil || res.Opened != conns || res.Closed != conns || res.LastClose <= 0 {
		t.Fatalf("%+v err %v; want %d opened and closed", res, err, conns)
	}
	hello := protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.ProtocolVersion, Role: protocol.RoleClient})
	for range conns {
		if b := <-got; !bytes.Equal(b, hello[:upTo]) {
			t.Fatalf("server read %x; want the HELLO's first bytes %x", b, hello[:upTo])
		}
	}
}

// The trickle stops one byte short of a whole HELLO, so a frame is
// never completed however long the daemon waits.
func TestHoldIdleTrickleNeverCompletesHello(t *testing.T) {
	hello := protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.ProtocolVersion, Role: protocol.RoleClient})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer nc.Close() // which ends the client's run
		b := make([]byte, len(hello))
		nc.SetReadDeadline(time.Now().Add(30 * time.Second)) // fail, never hang
		n, _ := io.ReadAtLeast(nc, b, len(hello)-1)
		// Long past the period: a last byte would have come.
		nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		m, _ := nc.Read(b[n:])
		got <- n + m
	}()
	res, err := HoldIdle(context.Background(), IdleConfig{Addr: ln.Addr().String(), Conns: 1, Hold: time.Minute, Trickle: time.Millisecond})
	if err != nil || res.Opened != 1 || res.Closed != 1 {
		t.Fatalf("%+v err %v", res, err)
	}
	if n := <-got; n != len(hello)-1 {
		t.Fatalf("server read %d bytes; want %d (a HELLO less its last byte)", n, len(hello)-1)
	}
}
