package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The data commands, bench and idle reach serve's TLS listener, which
// requires a client certificate (mutual TLS). Without one, or with the
// wrong CA or server name, they fail with exit 3 and say why.
func TestClientCommandsOverTLS(t *testing.T) {
	verifyNoLeaks(t)
	dir, other := t.TempDir(), t.TempDir()
	writeTestPKI(t, dir)
	writeTestPKI(t, other)
	cert, key, ca := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	args := []string{"--listen", "127.0.0.1:0", "--admin", "", "--nodes", startNodes(t, 3), "--data-dir", "", "--log-level", "error",
		"--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", ca}
	_, stop, out := startServerOut(t, runServe, args, "distridata serving on ")
	addr := "--addr=" + lineAfter(out.String(), "TLS listening on ")
	mine := []string{addr, "--tls-ca", ca, "--tls-cert", cert, "--tls-key", key}

	for _, tc := range [][]string{
		{"put", "k", "v"}, {"get", "k"}, {"stats"}, {"ping"}, {"del", "k"},
	} {
		code, sout, serr := cli(t, append(tc, mine...)...)
		if code != exitOK || (tc[0] == "get" && sout != "v") {
			t.Fatalf("%v over mutual TLS: exit %d, %q %s", tc, code, sout, serr)
		}
	}
	if code, sout, serr := cli(t, append([]string{"bench", "--conns", "2", "--requests", "50", "--value-size", "8"}, mine...)...); code != exitOK || !strings.Contains(sout, "over TLS") {
		t.Fatalf("bench over TLS: exit %d, %q %s", code, sout, serr)
	}
	if code, sout, serr := cli(t, append([]string{"idle", "--conns", "3", "--hold", "1ms"}, mine...)...); code != exitOK || !strings.Contains(sout, "opened 3 refused 0") {
		t.Fatalf("idle over TLS: exit %d, %q %s", code, sout, serr)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no client certificate", []string{addr, "--tls-ca", ca}, "certificate required"},
		{"wrong CA", []string{addr, "--tls-ca", filepath.Join(other, "ca.pem"), "--tls-cert", cert, "--tls-key", key}, "certificate signed by unknown authority"},
		{"wrong server name", []string{addr, "--tls-server-name", "elsewhere", "--tls-ca", ca, "--tls-cert", cert, "--tls-key", key}, "elsewhere"},
		{"no TLS", []string{addr}, "status=none outcome=failed"},
	} {
		code, _, serr := cli(t, append([]string{"ping"}, tc.args...)...)
		if code != exitUnavailable || !strings.Contains(serr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q in it", tc.name, code, serr, tc.want)
		}
	}
	if code := stop(); code != exitOK {
		t.Fatalf("serve exited %d", code)
	}
}

// TLS flags that cannot make a TLS connection are usage errors, never a
// silent plain-text connection.
func TestClientTLSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	writeTestPKI(t, dir)
	cert, key, ca := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	for _, args := range [][]string{
		{"--tls-cert", cert, "--tls-key", key},
		{"--tls-server-name", "x"},
		{"--tls-ca", ca, "--tls-cert", cert},
		{"--tls-ca", key},
		{"--tls-ca", filepath.Join(dir, "missing.pem")},
		{"--tls", "--tls-cert", key, "--tls-key", key},
	} {
		for _, cmd := range []string{"ping", "bench", "idle"} {
			full := append([]string{cmd, "--addr", "127.0.0.1:1"}, args...)
			if cmd == "idle" {
				full = append(full, "--hold", "1ms")
			}
			if code, _, serr := cli(t, full...); code != exitUsage {
				t.Errorf("%v: exit %d, want %d; stderr %q", full, code, exitUsage, serr)
			}
		}
	}
}
