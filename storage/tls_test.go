package storage

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/distridata/distridata/internal/pkitest"
	"github.com/distridata/distridata/protocol"
)

// dialTLS connects over TLS trusting roots and completes HELLO.
func dialTLS(t *testing.T, addr net.Addr, roots *tls.Config) (*testConn, int64) {
	t.Helper()
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", addr.String(), roots)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &testConn{t: t, nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
	c.send(protocol.AppendHello(nil, 0, protocol.Hello{Version: protocol.PeerVersion, Role: protocol.RolePeer}))
	if f := c.read(); f.Status != protocol.StatusOK {
		t.Fatalf("HELLO over TLS: %v", f.Status)
	}
	return c, pkitest.Serial(nc.ConnectionState())
}

// SetTLS rotates the certificate: later handshakes present the new one,
// a connection made before keeps working, and a config without a
// certificate is refused and counted while the running one stays.
func TestSetTLSRotates(t *testing.T) {
	old, next := pkitest.NewCA(t, "old"), pkitest.NewCA(t, "next")
	cfg := testConfig()
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{old.Issue(t, 2)}}
	s := startServer(t, cfg, nil)
	before, serial := dialTLS(t, s.Addr(), &tls.Config{RootCAs: old.Pool})
	if serial != 2 {
		t.Fatalf("first handshake: serial %d", serial)
	}
	if err := s.SetTLS(&tls.Config{Certificates: []tls.Certificate{next.Issue(t, 3)}}); err != nil {
		t.Fatal(err)
	}
	if _, serial = dialTLS(t, s.Addr(), &tls.Config{RootCAs: next.Pool}); serial != 3 {
		t.Fatalf("after SetTLS: serial %d, want 3", serial)
	}
	if f := before.rpc(protocol.AppendStats(nil, 5)); f.Status != protocol.StatusOK {
		t.Fatalf("connection made before the rotation: %v", f.Status)
	}
	for _, bad := range []*tls.Config{nil, {}} {
		if err := s.SetTLS(bad); !errors.Is(err, ErrTLSReload) {
			t.Fatalf("SetTLS(%v): %v", bad, err)
		}
	}
	if _, serial = dialTLS(t, s.Addr(), &tls.Config{RootCAs: next.Pool}); serial != 3 {
		t.Fatalf("after refused configs: serial %d, want 3", serial)
	}
	st := string(s.Stats())
	if !strings.Contains(st, "tls_reloads 1\n") || !strings.Contains(st, "tls_reload_failures 2\n") {
		t.Fatalf("stats:\n%s", st)
	}
}

// A node started on plain TCP cannot be switched to TLS by SetTLS.
func TestSetTLSPlainRefused(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	ca := pkitest.NewCA(t, "ca")
	if err := s.SetTLS(&tls.Config{Certificates: []tls.Certificate{ca.Issue(t, 2)}}); !errors.Is(err, ErrTLSReload) {
		t.Fatalf("SetTLS on a plain node: %v", err)
	}
	dialHello(t, s.Addr(), "") // still plain
}

// A session ticket issued before a rotation does not let a client whose
// CA the rotation dropped back in (crypto/tls checks a resumed session's
// client certificate against the config of the new handshake; this pins
// that, since SetTLS relies on it).
func TestSetTLSDropsOldTickets(t *testing.T) {
	nodes, oldClients, newClients := pkitest.NewCA(t, "nodes"), pkitest.NewCA(t, "old"), pkitest.NewCA(t, "new")
	srv := func(clients *pkitest.CA) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{nodes.Issue(t, 2)},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients.Pool}
	}
	cfg := testConfig()
	cfg.TLS = srv(oldClients)
	s := startServer(t, cfg, nil)
	client := &tls.Config{RootCAs: nodes.Pool, Certificates: []tls.Certificate{oldClients.Issue(t, 3)},
		ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	dialTLS(t, s.Addr(), client) // HELLO's round trip brings the ticket
	again, _ := dialTLS(t, s.Addr(), client)
	if !again.nc.(*tls.Conn).ConnectionState().DidResume {
		t.Fatal("no resumption before the rotation: the test proves nothing")
	}
	if err := s.SetTLS(srv(newClients)); err != nil {
		t.Fatal(err)
	}
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", s.Addr().String(), client)
	if err == nil {
		defer nc.Close()
		c := &testConn{t: t, nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
		c.send(protocol.AppendHello(nil, 0, protocol.Hello{Version: protocol.PeerVersion, Role: protocol.RolePeer}))
		if _, err = c.readFrame(); err == nil {
			t.Fatalf("a client of the dropped CA was served after the rotation (resumed: %v)", nc.ConnectionState().DidResume)
		}
	}
}
