package main

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/distridata/distridata/internal/pkitest"
)

// The README's promise: `distridata local`, then put and get just work.
func TestLocalPutGetDel(t *testing.T) {
	verifyNoLeaks(t)
	dir := t.TempDir()
	addr, stop := startServer(t, runLocal, []string{"--dir", dir, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--sync", "none", "--log-level", "error"}, "distridata serving on ")
	a := "--addr=" + addr
	if code, _, errs := cli(t, "put", a, "greeting", "hello"); code != exitOK {
		t.Fatalf("put: %d %s", code, errs)
	}
	if code, out, _ := cli(t, "get", a, "greeting"); code != exitOK || out != "hello" {
		t.Fatalf("get: %d %q", code, out)
	}
	if code, _, _ := cli(t, "del", a, "greeting"); code != exitOK {
		t.Fatalf("del: %d", code)
	}
	if code, _, _ := cli(t, "get", a, "greeting"); code != exitNotFound {
		t.Fatalf("get after del: %d", code)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("local exited %d", code)
	}
	// Data survives a restart on the same directory (pebble engine).
	addr, stop = startServer(t, runLocal, []string{"--dir", dir, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-level", "error"}, "distridata serving on ")
	if code, _, _ := cli(t, "put", "--addr="+addr, "k2", "v2"); code != exitOK {
		t.Fatalf("put after restart: %d", code)
	}
	stop()
	if code, _, errs := cli(t, "local", "--admin", "0.0.0.0:7380"); code != exitUsage {
		t.Fatalf("public admin: %d %s", code, errs)
	}
}

func TestLocalOneNodeClampsN(t *testing.T) {
	verifyNoLeaks(t)
	addr, stop := startServer(t, runLocal, []string{"--nodes", "1", "--engine", "memory", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-level", "error"}, "distridata serving on ")
	if code, _, errs := cli(t, "put", "--addr="+addr, "k", "v"); code != exitOK {
		t.Fatalf("put: %d %s", code, errs)
	}
	if code, out, _ := cli(t, "get", "--addr="+addr, "k"); code != exitOK || out != "v" {
		t.Fatalf("get: %d %q", code, out)
	}
	stop()
}

// local --tls-listen serves TLS clients, as serve's flags do, and SIGHUP
// rotates the certificate.
func TestLocalTLS(t *testing.T) {
	verifyNoLeaks(t)
	dir := t.TempDir()
	first, second := pkitest.NewCA(t, "first"), pkitest.NewCA(t, "second")
	files := first.WriteFiles(t, dir, 2)
	args := []string{"--engine", "memory", "--listen", "127.0.0.1:0", "--admin", "", "--log-level", "error",
		"--tls-listen", "127.0.0.1:0", "--tls-cert", files.Cert, "--tls-key", files.Key}
	_, stop, out := startServerOut(t, runLocal, args, "distridata serving on ")
	a := "--addr=" + lineAfter(out.String(), "TLS listening on ")
	if code, _, errs := cli(t, "put", a, "--tls-ca", files.CA, "k", "v"); code != exitOK {
		t.Fatalf("put over TLS: %d %s", code, errs)
	}
	if code, got, errs := cli(t, "get", a, "--tls-ca", files.CA, "k"); code != exitOK || got != "v" {
		t.Fatalf("get over TLS: %d %q %s", code, got, errs)
	}
	second.WriteFiles(t, dir, 3)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	addr := strings.TrimPrefix(a, "--addr=")
	waitFor(t, "local presents the rotated certificate", func() bool { return servesSerial(addr, second.Pool, 3) })
	if code := stop(); code != exitOK {
		t.Fatalf("local exited %d", code)
	}
	for _, bad := range [][]string{
		{"--tls-cert", files.Cert, "--tls-key", files.Key},                               // no --tls-listen
		{"--tls-listen", "127.0.0.1:0", "--tls-cert", files.Cert},                        // no key
		{"--tls-listen", "0.0.0.0:0", "--tls-cert", files.Cert, "--tls-key", files.Key},  // public, no client auth
		{"--tls-listen", "127.0.0.1:0", "--tls-cert", files.Key, "--tls-key", files.Key}, // not a certificate
	} {
		if code, _, errs := cli(t, append([]string{"local", "--engine", "memory", "--listen", "127.0.0.1:0", "--admin", ""}, bad...)...); code != exitUsage {
			t.Errorf("%v: exit %d %s", bad, code, errs)
		}
	}
}
