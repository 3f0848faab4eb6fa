package client_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/client/clienttest"
	"github.com/distridata/distridata/protocol"
)

// pendingCalls starts n PUTs and n GETs that the server never answers,
// waits until the server has received them all, and returns their errors
// once they end.
func pendingCalls(t *testing.T, c *client.Conn, srv *clienttest.FakeServer, n int) (puts, gets chan error) {
	t.Helper()
	ctx := testCtx(t)
	puts, gets = make(chan error, n), make(chan error, n)
	for i := range n {
		go func() {
			_, err := c.Put(ctx, fmt.Appendf(nil, "k%d", i), []byte("v"))
			puts <- err
		}()
		go func() {
			_, _, err := c.Get(ctx, fmt.Appendf(nil, "k%d", i))
			gets <- err
		}()
	}
	waitFor(t, 5*time.Second, "the server to receive every call", func() bool {
		return srv.Stats().Requests == int64(2*n)
	})
	return puts, gets
}

func checkClosed(t *testing.T, puts, gets chan error, n int, cause error) {
	t.Helper()
	for range n {
		err := <-puts
		if !errors.Is(err, client.ErrClosed) || !errors.Is(err, client.ErrUnknownOutcome) || !errors.Is(err, cause) {
			t.Fatalf("sent Put on a closed Conn: %v, want ErrClosed, ErrUnknownOutcome and %v", err, cause)
		}
		err = <-gets
		if !errors.Is(err, client.ErrClosed) || !errors.Is(err, client.ErrFailed) || !errors.Is(err, cause) {
			t.Fatalf("sent Get on a closed Conn: %v, want ErrClosed, ErrFailed and %v", err, cause)
		}
	}
}

var drop = func(clienttest.Request) clienttest.Action { return clienttest.Action{Drop: true} }

func TestCloseFailsEveryPendingCall(t *testing.T) {
	srv := clienttest.Start(t, clienttest.Options{Hook: drop})
	c := dial(t, srv, client.DefaultOptions())
	puts, gets := pendingCalls(t, c, srv, 50)
	c.Close()
	checkClosed(t, puts, gets, 50, client.ErrClosed)
	if err := c.Ping(context.Background()); !errors.Is(err, client.ErrClosed) || !errors.Is(err, client.ErrFailed) {
		t.Fatalf("Ping after Close: %v", err)
	}
	var asyncErr error
	c.PutAsync(context.Background(), []byte("k"), nil, func(_ protocol.Version, err error) { asyncErr = err })
	if !errors.Is(asyncErr, client.ErrClosed) || !errors.Is(asyncErr, client.ErrFailed) {
		t.Fatalf("PutAsync after Close: %v, want a failed ErrClosed, before returning", asyncErr)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestServerDropFailsEveryPendingCall(t *testing.T) {
	srv := clienttest.Start(t, clienttest.Options{Hook: drop})
	c := dial(t, srv, client.DefaultOptions())
	puts, gets := pendingCalls(t, c, srv, 50)
	srv.DropConns()
	checkClosed(t, puts, gets, 50, client.ErrClosed)
	<-c.Done()
	if err := c.Err(); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Err = %v", err)
	}
}

func TestMisbehavingServer(t *testing.T) {
	cases := []struct {
		name  string
		act   clienttest.Action
		cause error
	}{
		{"reply with an ID never sent", clienttest.Action{WrongID: true}, client.ErrProtocol},
		{"close mid-frame", clienttest.Action{CloseMidFrame: true}, client.ErrClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := clienttest.Start(t, clienttest.Options{Hook: func(r clienttest.Request) clienttest.Action {
				if r.Key == "bad" {
					return tc.act
				}
				return clienttest.Action{Drop: true}
			}})
			c := dial(t, srv, client.DefaultOptions())
			puts, gets := pendingCalls(t, c, srv, 10)
			_, err := c.Put(testCtx(t), []byte("bad"), nil)
			if !errors.Is(err, client.ErrClosed) || !errors.Is(err, tc.cause) || !errors.Is(err, client.ErrUnknownOutcome) {
				t.Fatalf("Put = %v, want ErrClosed, %v, unknown outcome", err, tc.cause)
			}
			checkClosed(t, puts, gets, 10, tc.cause)
		})
	}
}

// TestQueuedWriteFailsCleanly shows the line between unknown and failed:
// a PUT still queued in the client when its connection closes was never
// sent, so it failed; one already handed to the socket is unknown.
func TestQueuedWriteFailsCleanly(t *testing.T) {
	release := make(chan struct{})
	srv := clienttest.Start(t, clienttest.Options{Hook: func(r clienttest.Request) clienttest.Action {
		<-release // stop reading: the client's socket buffers fill up
		return clienttest.Action{Drop: true}
	}})
	t.Cleanup(func() { close(release) })
	opts := client.DefaultOptions()
	opts.Seal = protocol.SealOptions{} // random bytes: nothing to gain
	c := dial(t, srv, opts)
	ctx := testCtx(t)
	val := make([]byte, 1<<20)
	rand.Read(val)

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	put := func(i int) {
		wg.Go(func() {
			_, err := c.Put(ctx, fmt.Appendf(nil, "k%d", i), val)
			errs <- err
		})
	}
	// Queue PUTs one at a time until two are stuck behind a Write that
	// the full socket buffers block: the last one was never sent.
	n := 0
	for ; n < 60; n++ {
		put(n)
		if !progressed(c, uint64(n+1)) && c.Counters().Frames+2 <= uint64(n+1) {
			break
		}
	}
	if n == 60 {
		t.Fatal("the writer never blocked; socket buffers larger than 60 MiB?")
	}
	c.Close()
	wg.Wait()
	close(errs)
	var unknown, failed int
	for err := range errs {
		switch {
		case errors.Is(err, client.ErrUnknownOutcome):
			unknown++
		case errors.Is(err, client.ErrFailed) && errors.Is(err, client.ErrClosed):
			failed++
		default:
			t.Fatalf("unexpected %v", err)
		}
	}
	if unknown == 0 || failed == 0 {
		t.Fatalf("%d unknown, %d failed: want both", unknown, failed)
	}
	t.Logf("%d PUTs sent (unknown), %d still queued (failed)", unknown, failed)
}

// progressed waits up to 200ms for the writer to hand frames to Write.
func progressed(c *client.Conn, frames uint64) bool {
	for range 200 {
		if c.Counters().Frames >= frames {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// A TLS Dial to a plain-TCP server fails in the handshake instead of
// falling back to plain text.
func TestTLSDialToPlainServer(t *testing.T) {
	srv := clienttest.NewFakeServer(t)
	o := client.DefaultOptions()
	o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	c, err := client.Dial(testCtx(t), srv.Addr(), o)
	if err == nil {
		c.Close()
		t.Fatal("TLS Dial to a plain server succeeded")
	}
	if !errors.Is(err, client.ErrHandshake) || !errors.Is(err, client.ErrFailed) {
		t.Fatalf("TLS Dial to a plain server: %v", err)
	}
}

// A daemon at max-conns answers a new connection, before reading its
// HELLO, with a HELLO reply of id 0 and status BUSY, then closes: Dial
// must report BUSY (failed, retry later), not a protocol violation.
func TestDialRefusedBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		nc.Write(protocol.AppendStatusReply(nil, protocol.OpHello, 0, protocol.StatusBusy))
		nc.Close()
	}()
	_, err = client.Dial(testCtx(t), ln.Addr().String(), client.Options{})
	<-done
	var se *client.StatusError
	if !errors.Is(err, client.ErrHandshake) || !errors.As(err, &se) || se.Status != protocol.StatusBusy || !errors.Is(err, client.ErrFailed) {
		t.Fatalf("Dial to a full daemon: %v; want a BUSY handshake failure", err)
	}
}
