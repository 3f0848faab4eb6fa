package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distridata/distridata/internal/pkitest"
	"github.com/distridata/distridata/protocol"
)

// waitFor polls cond until it holds; the bound only catches a reload
// that never happens (it is not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// servesSerial reports whether a new handshake with addr, trusting
// roots, gets the certificate with serial.
func servesSerial(addr string, roots *x509.CertPool, serial int64) bool {
	got, err := pkitest.DialSerial(addr, roots)
	return err == nil && got == serial
}

// nodeStats reads a TLS node's STATS text.
func nodeStats(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	req := protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.PeerVersion, Role: protocol.RolePeer})
	if _, err := nc.Write(protocol.AppendStats(req, 2)); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrameSize)
		if err != nil {
			t.Fatal(err)
		}
		if f.ID == 2 {
			return string(f.Body)
		}
	}
}

// SIGHUP makes a node re-read its certificate and key: new handshakes
// present the new certificate; a key that does not load is refused and
// counted (STATS tls_reload_failures) and the running certificate stays.
func TestNodeSIGHUPReloadsTLS(t *testing.T) {
	verifyNoLeaks(t)
	dir := t.TempDir()
	first, second := pkitest.NewCA(t, "first"), pkitest.NewCA(t, "second")
	files := first.WriteFiles(t, dir, 2)
	args := []string{"--listen", "127.0.0.1:0", "--engine", "memory", "--log-level", "error",
		"--tls-cert", files.Cert, "--tls-key", files.Key}
	addr, stop := startServer(t, runNode, args, "node 1 listening on ")
	if !servesSerial(addr, first.Pool, 2) {
		t.Fatal("node does not serve its first certificate")
	}
	second.WriteFiles(t, dir, 3)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, "the node serves the rotated certificate", func() bool { return servesSerial(addr, second.Pool, 3) })
	pkitest.WriteFile(t, files.Key, []byte("not a key"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, "the bad key is counted", func() bool {
		return strings.Contains(nodeStats(t, addr, second.Pool), "tls_reload_failures 1\n")
	})
	if !servesSerial(addr, second.Pool, 3) {
		t.Fatal("a bad key replaced the running certificate")
	}
	if code := stop(); code != exitOK {
		t.Fatalf("node exited %d", code)
	}
}

// SIGHUP makes serve re-read its TLS listener's certificate and key; a
// key that does not load is a failed reload (counted), and the running
// certificate stays.
func TestServeSIGHUPReloadsTLS(t *testing.T) {
	verifyNoLeaks(t)
	dir := t.TempDir()
	first, second := pkitest.NewCA(t, "first"), pkitest.NewCA(t, "second")
	files := first.WriteFiles(t, dir, 2)
	args := []string{"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--nodes", startNodes(t, 3), "--data-dir", "", "--log-level", "error",
		"--tls-listen", "127.0.0.1:0", "--tls-cert", files.Cert, "--tls-key", files.Key}
	_, stop, out := startServerOut(t, runServe, args, "distridata serving on ")
	addr := lineAfter(out.String(), "TLS listening on ")
	admin := "http://" + lineAfter(out.String(), "admin listening on ") + "/metrics"
	if !servesSerial(addr, first.Pool, 2) {
		t.Fatal("serve does not present its first certificate")
	}
	second.WriteFiles(t, dir, 3)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, "serve presents the rotated certificate", func() bool { return servesSerial(addr, second.Pool, 3) })
	pkitest.WriteFile(t, files.Key, []byte("not a key"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, "the bad key is counted", func() bool {
		return strings.Contains(scrape(t, admin), "distridata_reload_failures_total 1\n")
	})
	if !servesSerial(addr, second.Pool, 3) {
		t.Fatal("a bad key replaced the running certificate")
	}
	if code := stop(); code != exitOK {
		t.Fatalf("serve exited %d", code)
	}
}
