package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distridata/distridata/internal/pkitest"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/storage"
)

// writeTestPKI writes ca.pem, and cert.pem/key.pem for 127.0.0.1 signed
// by it, into dir.
func writeTestPKI(t *testing.T, dir string) {
	t.Helper()
	pkitest.NewCA(t, "ca").WriteFiles(t, dir, 2)
}

func TestServeTLSFlags(t *testing.T) {
	dir := t.TempDir()
	writeTestPKI(t, dir)
	cert, key, ca := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	nodes := "1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3"
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key}, true},
		{[]string{"--tls-listen", "127.0.0.1:0", "--tls-cert", cert}, false},
		{[]string{"--tls-cert", cert, "--tls-key", key}, false},
		{[]string{"--tls-listen", "127.0.0.1:0", "--tls-cert", key, "--tls-key", key}, false},
		{[]string{"--tls-listen", "0.0.0.0:7443", "--tls-cert", cert, "--tls-key", key}, false},
		{[]string{"--tls-listen", "0.0.0.0:7443", "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", ca}, true},
		{[]string{"--tls-listen", "0.0.0.0:7443", "--tls-cert", cert, "--tls-key", key, "--insecure-public"}, true},
	} {
		o, err := parseServe(append(tc.args, "--nodes", nodes), io.Discard)
		if err == nil {
			_, err = o.daemonConfig(io.Discard)
		}
		if (err == nil) != tc.ok {
			t.Errorf("%v: err %v", tc.args, err)
		}
	}
	o, _ := parseServe([]string{"--nodes", nodes, "--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", ca}, io.Discard)
	if cfg, err := o.daemonConfig(io.Discard); err != nil || cfg.TLS.ClientAuth != tls.RequireAndVerifyClientCert || cfg.TLS.ClientCAs == nil {
		t.Fatalf("mTLS config: %v", err)
	}
}

// serve --tls-listen answers HELLO over TLS, verified against the CA.
func TestServeTLSEndToEnd(t *testing.T) {
	verifyNoLeaks(t)
	dir := t.TempDir()
	writeTestPKI(t, dir)
	args := []string{"--listen", "127.0.0.1:0", "--admin", "", "--nodes", startNodes(t, 3), "--data-dir", "", "--log-level", "error",
		"--tls-listen", "127.0.0.1:0", "--tls-cert", filepath.Join(dir, "cert.pem"), "--tls-key", filepath.Join(dir, "key.pem")}
	_, stop, out := startServerOut(t, runServe, args, "distridata serving on ")
	addr := lineAfter(out.String(), "TLS listening on ")
	pool, err := loadCAs(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	nc.Write(protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.ProtocolVersion}))
	nc.Write(protocol.AppendPut(nil, 2, protocol.Put{Key: []byte("k"), Value: []byte("v")}))
	for want := range []int{1, 2} {
		hb := make([]byte, protocol.HeaderSize)
		if _, err := io.ReadFull(nc, hb); err != nil {
			t.Fatal(err)
		}
		h, err := protocol.DecodeHeader(hb, 1<<20)
		if err != nil || h.Status != protocol.StatusOK || h.ID != uint64(want+1) {
			t.Fatalf("reply %d: %+v %v", want+1, h, err)
		}
		io.CopyN(io.Discard, nc, int64(h.Length))
	}
	nc.Close()
	if code := stop(); code != exitOK {
		t.Fatalf("serve exited %d", code)
	}
	if !strings.Contains(out.String(), "TLS listening on 127.0.0.1:") {
		t.Fatalf("output: %s", out.String())
	}
}

// Daemon to nodes over mutual TLS: nodes require a client certificate
// from the CA, serve verifies them and presents one.
func TestServeNodeTLS(t *testing.T) {
	verifyNoLeaks(t)
	dir := t.TempDir()
	writeTestPKI(t, dir)
	cert, key, ca := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	var list []string
	for i := 1; i <= 3; i++ {
		cfg, _, err := parseNode([]string{"--listen", "127.0.0.1:0", "--engine", "memory", "--id", strconv.Itoa(i),
			"--tls-cert", cert, "--tls-key", key, "--tls-client-ca", ca, "--log-level", "error"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		s, err := storage.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		list = append(list, strconv.Itoa(i)+"="+s.Addr().String())
	}
	args := []string{"--listen", "127.0.0.1:0", "--admin", "", "--nodes", strings.Join(list, ","), "--data-dir", "", "--log-level", "error",
		"--node-tls-ca", ca, "--node-tls-cert", cert, "--node-tls-key", key}
	addr, stop := startServer(t, runServe, args, "distridata serving on ")
	if code, _, errs := cli(t, "put", "--addr="+addr, "k", "v"); code != exitOK {
		t.Fatalf("put over node TLS: %d %s", code, errs)
	}
	if code, out, errs := cli(t, "get", "--addr="+addr, "k"); code != exitOK || out != "v" {
		t.Fatalf("get: %d %q %s", code, out, errs)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("serve exited %d", code)
	}
	if _, _, err := parseNode([]string{"--tls-cert", cert}, io.Discard); err == nil {
		t.Error("node --tls-cert without --tls-key accepted")
	}
	if _, err := nodeTLS("", cert, key); err == nil {
		t.Error("--node-tls-cert without --node-tls-ca accepted")
	}
}
