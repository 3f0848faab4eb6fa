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
