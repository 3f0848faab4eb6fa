package daemon

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/distridata/distridata/internal/pkitest"
	"github.com/distridata/distridata/protocol"
)

// startTLSFront serves a fake store on plain TCP and TLS.
func startTLSFront(t *testing.T, cfg Config, srv *tls.Config) (*frontend, *tlsFront) {
	t.Helper()
	fe := startFront(t, cfg, newFakeStore())
	tf, err := startTLS(fe, "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tf.close) // runs before the front end's shutdown
	return fe, tf
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) (*rawConn, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	nc, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}, nil
}

func hello(c *rawConn, tok string) protocol.Frame {
	c.send(protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.ProtocolVersion, Token: []byte(tok)}))
	return c.recv()
}

func TestTLSRoundTripAndWindow(t *testing.T) {
	ca := pkitest.NewCA(t, "test CA")
	cfg := testConfig()
	cfg.ConnWindow = 4 // the reader must pause and resume
	fe, tf := startTLSFront(t, cfg, &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, 2)}})
	c, err := dialTLS(t, tf.addr(), &tls.Config{RootCAs: ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	if f := hello(c, ""); f.Status != protocol.StatusOK {
		t.Fatalf("HELLO: %v", f.Status)
	}
	if f := c.put(2, "k", "v"); f.Status != protocol.StatusOK {
		t.Fatalf("PUT: %v", f.Status)
	}
	if f, r := c.get(3, "k"); f.Status != protocol.StatusOK || string(r.Value) != "v" {
		t.Fatalf("GET: %v %q", f.Status, r.Value)
	}
	const n = 300
	var batch []byte
	for i := range n {
		batch = protocol.AppendPut(batch, uint64(100+i), protocol.Put{Key: []byte("p" + strconv.Itoa(i)), Value: []byte("v")})
	}
	c.send(batch)
	seen := map[uint64]bool{}
	for range n {
		f := c.recv()
		if f.Status != protocol.StatusOK {
			t.Fatalf("pipelined PUT %d: %v", f.ID, f.Status)
		}
		seen[f.ID] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct replies for %d requests", len(seen), n)
	}
	if fe.m.pauses.Load() == 0 {
		t.Error("window of 4 never paused the TLS reader")
	}
	c.send(protocol.AppendStats(nil, 9))
	if f := c.recv(); f.Op != protocol.OpStats || f.Status != protocol.StatusOK {
		t.Fatalf("STATS: %v %v", f.Op, f.Status)
	}
}

func TestTLSMutualAuth(t *testing.T) {
	ca := pkitest.NewCA(t, "test CA")
	srv := &tls.Config{
		Certificates: []tls.Certificate{ca.Issue(t, 2)},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool,
	}
	_, tf := startTLSFront(t, testConfig(), srv)
	// No client certificate: the handshake fails (TLS 1.3 reports it on
	// the first read), and nothing is served.
	if c, err := dialTLS(t, tf.addr(), &tls.Config{RootCAs: ca.Pool}); err == nil {
		c.send(protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.ProtocolVersion}))
		if f, err := c.tryRecv(5 * time.Second); err == nil {
			t.Fatalf("served without a client certificate: %v", f.Status)
		}
	}
	// A certificate from another CA is refused too.
	other := pkitest.NewCA(t, "test CA")
	if c, err := dialTLS(t, tf.addr(), &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{other.Issue(t, 3)}}); err == nil {
		c.send(protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.ProtocolVersion}))
		if _, err := c.tryRecv(5 * time.Second); err == nil {
			t.Fatal("served a client certificate from an unknown CA")
		}
	}
	c, err := dialTLS(t, tf.addr(), &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{ca.Issue(t, 4)}})
	if err != nil {
		t.Fatal(err)
	}
	if f := hello(c, ""); f.Status != protocol.StatusOK {
		t.Fatalf("HELLO with a client certificate: %v", f.Status)
	}
}

func TestTLSToken(t *testing.T) {
	ca := pkitest.NewCA(t, "test CA")
	cfg := testConfig()
	cfg.Token = "s3cret"
	fe, tf := startTLSFront(t, cfg, &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, 2)}})
	for _, tok := range []string{"", "wrong"} {
		c, err := dialTLS(t, tf.addr(), &tls.Config{RootCAs: ca.Pool})
		if err != nil {
			t.Fatal(err)
		}
		c.send(protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.ProtocolVersion, Token: []byte(tok)}))
		got := c.expectClosed()
		if len(got) != 1 || got[0].Status != protocol.StatusUnauthorized {
			t.Fatalf("token %q: %v", tok, got)
		}
	}
	// A data request before HELLO is refused as well.
	c, err := dialTLS(t, tf.addr(), &tls.Config{RootCAs: ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	c.send(protocol.AppendGet(nil, 1, protocol.KeyRequest{Key: []byte("k")}))
	if got := c.expectClosed(); len(got) != 1 || got[0].Status == protocol.StatusOK {
		t.Fatalf("GET before HELLO: %v", got)
	}
	c, err = dialTLS(t, tf.addr(), &tls.Config{RootCAs: ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	if f := hello(c, "s3cret"); f.Status != protocol.StatusOK {
		t.Fatalf("right token: %v", f.Status)
	}
	if fe.m.authFailures.Load() < 2 {
		t.Errorf("auth failures %d", fe.m.authFailures.Load())
	}
}

// TLS sessions drain like gnet ones: a request in flight when shutdown
// starts is answered.
func TestTLSShutdownDrains(t *testing.T) {
	ca := pkitest.NewCA(t, "test CA")
	cfg := testConfig()
	store := newFakeStore()
	store.gate = make(chan struct{}) // requests wait until the drain has begun
	fe, err := startFrontend(cfg, store, protocol.NewClock(nil), func() uint64 { return 7 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := startTLS(fe, "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialTLS(t, tf.addr(), &tls.Config{RootCAs: ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	hello(c, "")
	c.send(protocol.AppendPut(nil, 5, protocol.Put{Key: []byte("k"), Value: []byte("v")}))
	for fe.m.inFlight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tf.stopAccepting()
	time.AfterFunc(100*time.Millisecond, func() { close(store.gate) })
	if err := fe.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	tf.close()
	if f := c.recv(); f.ID != 5 || f.Status != protocol.StatusOK {
		t.Fatalf("in-flight PUT: %v %v", f.ID, f.Status)
	}
}
