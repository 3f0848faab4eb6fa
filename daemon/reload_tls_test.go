package daemon_test

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/internal/clustertest"
	"github.com/distridata/distridata/internal/pkitest"
	"github.com/distridata/distridata/storage"
)

// A reload replaces the TLS listener's certificate: new handshakes get
// the new one (the old CA no longer verifies it), a connection made
// before keeps working, and a config without a certificate is refused
// and counted while the new certificate keeps serving.
func TestReloadRotatesListenerCertificate(t *testing.T) {
	old, next := pkitest.NewCA(t, "old"), pkitest.NewCA(t, "next")
	cl, cfg := startReloadable(t, clustertest.Options{Daemon: func(c *daemon.Config) {
		c.TLSListen = "127.0.0.1:0"
		c.TLS = &tls.Config{Certificates: []tls.Certificate{old.Issue(t, 2)}}
	}})
	d := cl.Daemon
	if serial, err := pkitest.DialSerial(d.TLSAddr(), old.Pool); err != nil || serial != 2 {
		t.Fatalf("before the reload: serial %d, %v", serial, err)
	}
	o := client.DefaultOptions()
	o.TLS = &tls.Config{RootCAs: old.Pool}
	before, err := client.Dial(ctxT(t), d.TLSAddr(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()

	rotated := cfg
	rotated.TLS = &tls.Config{Certificates: []tls.Certificate{next.Issue(t, 3)}}
	if err := d.Reload(rotated); err != nil {
		t.Fatal(err)
	}
	if serial, err := pkitest.DialSerial(d.TLSAddr(), next.Pool); err != nil || serial != 3 {
		t.Fatalf("after the reload: serial %d, %v; want the new certificate", serial, err)
	}
	if _, err := pkitest.DialSerial(d.TLSAddr(), old.Pool); err == nil {
		t.Fatal("the old CA still verifies a new handshake")
	}
	if _, err := before.Put(ctxT(t), []byte("k"), []byte("v")); err != nil {
		t.Fatalf("connection made before the rotation: %v", err)
	}

	broken := cfg
	broken.TLS = &tls.Config{} // no certificate
	if err := d.Reload(broken); !errors.Is(err, daemon.ErrConfig) {
		t.Fatalf("reload without a certificate: %v, want ErrConfig", err)
	}
	if serial, err := pkitest.DialSerial(d.TLSAddr(), next.Pool); err != nil || serial != 3 {
		t.Fatalf("after the refused reload: serial %d, %v", serial, err)
	}
	if _, body := httpGet(t, "http://"+d.AdminAddr()+"/metrics"); !strings.Contains(body, "distridata_reload_failures_total 1") {
		t.Fatal("refused TLS reload not counted")
	}
}

// A reload replaces the links' client certificate: after it, a node that
// trusts only the new client CA (restarted with it) is reached again, so
// writes at W=3 succeed. With the certificate of the start kept, the
// node refuses every redial and W=3 never succeeds.
func TestReloadRotatesLinkCertificate(t *testing.T) {
	nodeCA, oldClients, newClients := pkitest.NewCA(t, "nodes"), pkitest.NewCA(t, "old clients"), pkitest.NewCA(t, "new clients")
	nodeTLS := &tls.Config{
		Certificates: []tls.Certificate{nodeCA.Issue(t, 10)},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: oldClients.Pool,
	}
	cl, cfg := startReloadable(t, clustertest.Options{W: 3, R: 1,
		Storage: func(c *storage.Config) { c.TLS = nodeTLS },
		Daemon: func(c *daemon.Config) {
			c.Link.TLS = &tls.Config{RootCAs: nodeCA.Pool, Certificates: []tls.Certificate{oldClients.Issue(t, 20)}}
			c.Link.BackoffMax = 100 * time.Millisecond // redial soon after the restart
		},
	})
	c := cl.Client()
	if err := putEventually(t, c, "v1"); err != nil {
		t.Fatalf("W=3 write before the rotation: %v", err)
	}
	rotated := cfg
	rotated.Link.TLS = &tls.Config{RootCAs: nodeCA.Pool, Certificates: []tls.Certificate{newClients.Issue(t, 21)}}
	if err := cl.Daemon.Reload(rotated); err != nil {
		t.Fatal(err)
	}
	n := cl.Nodes()[0]
	cl.Kill(n)
	cl.RestartWith(n, func(sc *storage.Config) {
		sc.TLS = nodeTLS.Clone()
		sc.TLS.ClientCAs = newClients.Pool
	})
	if err := putEventually(t, c, "v2"); err != nil {
		t.Fatalf("W=3 write after rotating the link certificate: %v", err)
	}
	// Turning link TLS off needs a restart: the reload keeps TLS on.
	plain := rotated
	plain.Link.TLS = nil
	if err := cl.Daemon.Reload(plain); err != nil {
		t.Fatalf("reload that turns link TLS off: %v, want it kept with a warning", err)
	}
	if _, err := c.Put(ctxT(t), []byte("k"), []byte("v3")); err != nil {
		t.Fatalf("write after the kept TLS: %v", err)
	}
}

// putEventually retries a write until the links to every owner are up
// (a dial, a TLS handshake and HELLO under -race on a loaded machine).
// The bound only catches a link that never comes up; it is not a timing
// assertion.
func putEventually(t *testing.T, c *client.Conn, v string) error {
	t.Helper()
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err = c.Put(ctxT(t), []byte("k"), []byte(v)); err == nil {
			return nil
		}
	}
	return err
}
