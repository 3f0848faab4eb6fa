package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/distridata/distridata/client/clienttest"
	"github.com/distridata/distridata/protocol"
)

// cli runs the binary's entry point with args and returns the exit code,
// stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// verifyNoLeaks checks at the end of a test that every goroutine the
// test started is gone. Goroutines from before it (package-level pools of
// linked-in libraries) and signal.NotifyContext's watcher are not its own.
func verifyNoLeaks(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, before, goleak.IgnoreTopFunction("os/signal.signal_recv"), goleak.IgnoreTopFunction("os/signal.loop"))
	})
}

func TestDataCommandsRoundTrip(t *testing.T) {
	verifyNoLeaks(t)
	srv := clienttest.NewFakeServer(t)
	addr := "--addr=" + srv.Addr()

	if code, out, errb := cli(t, "put", addr, "greeting", "hello"); code != exitOK || out != "" || errb != "" {
		t.Fatalf("put = %d %q %q", code, out, errb)
	}
	if code, out, errb := cli(t, "get", addr, "greeting"); code != exitOK || out != "hello" || errb != "" {
		t.Fatalf("get = %d %q %q; want the raw value, no newline", code, out, errb)
	}
	if code, out, errb := cli(t, "del", addr, "greeting"); code != exitOK || out != "" || errb != "" {
		t.Fatalf("del = %d %q %q", code, out, errb)
	}
	if code, out, errb := cli(t, "get", addr, "greeting"); code != exitNotFound || out != "" || errb != "not found\n" {
		t.Fatalf("get after del = %d %q %q", code, out, errb)
	}
	if code, out, _ := cli(t, "stats", addr); code != exitOK || !strings.Contains(out, "\nall counters:\nrequests ") || !strings.HasPrefix(out, "connections ") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("stats = %d %q", code, out)
	}
	if code, out, _ := cli(t, "ping", addr); code != exitOK || !strings.HasPrefix(out, "pong ") {
		t.Fatalf("ping = %d %q", code, out)
	}
}

func TestPutFromStdinKeepsBytesExactly(t *testing.T) {
	verifyNoLeaks(t)
	lim := protocol.DefaultLimits()
	lim.MaxValueSize = 1 << 10
	srv := clienttest.Start(t, clienttest.Options{Limits: lim})
	val := []byte("line one\nline two\x00\xff\n")
	clientStdin = bytes.NewReader(val)
	t.Cleanup(func() { clientStdin = os.Stdin })
	if code, _, errb := cli(t, "put", "--addr", srv.Addr(), "k", "-"); code != exitOK {
		t.Fatalf("put - = %d %q", code, errb)
	}
	if code, out, _ := cli(t, "get", "--addr", srv.Addr(), "k"); code != exitOK || out != string(val) {
		t.Fatalf("get = %d %q, want %q", code, out, val)
	}
	clientStdin = bytes.NewReader(make([]byte, 1<<10+1))
	code, _, errb := cli(t, "put", "--addr", srv.Addr(), "k", "-")
	if code != exitUnavailable || !strings.Contains(errb, "status=TOO_LARGE outcome=failed") {
		t.Fatalf("put of a value over the limit = %d %q", code, errb)
	}
}

func TestDataCommandFlags(t *testing.T) {
	verifyNoLeaks(t)
	seen := make(chan clienttest.Request, 4)
	srv := clienttest.Start(t, clienttest.Options{Hook: func(r clienttest.Request) clienttest.Action {
		seen <- r
		return clienttest.Action{}
	}})
	// Flags after the arguments, and a key that looks like a flag after "--".
	if code, _, errb := cli(t, "put", "k", "v", "--w", "3", "--timeout=1500ms", "--addr", srv.Addr()); code != exitOK {
		t.Fatalf("put with trailing flags = %d %q", code, errb)
	}
	if r := <-seen; r.Key != "k" || r.Options.Quorum != 3 || r.Options.DeadlineMs > 1500 || r.Options.DeadlineMs < 1000 {
		t.Fatalf("request = %+v, want key k, W=3, deadline ~1500ms", r)
	}
	t.Setenv(addrEnv, srv.Addr()) // and no --addr from here on
	if code, _, errb := cli(t, "get", "--r", "1", "--", "-dash"); code != exitNotFound {
		t.Fatalf("get -- -dash = %d %q", code, errb)
	}
	if r := <-seen; r.Key != "-dash" || r.Options.Quorum != 1 {
		t.Fatalf("request = %+v, want key -dash, R=1", r)
	}
}

func TestDataCommandUsage(t *testing.T) {
	verifyNoLeaks(t)
	for _, args := range [][]string{
		{"put"}, {"put", "k"}, {"put", "k", "v", "extra"}, {"get"}, {"del", "a", "b"}, {"stats", "x"},
		{"get", "--nope", "k"}, {"get", "--timeout=0", "k"}, {"put", "--w=-1", "k", "v"}, {"get", "--r", "x", "k"},
		{"ping", "--token-file", filepath.Join(t.TempDir(), "missing")},
	} {
		if code, out, errb := cli(t, args...); code != exitUsage || out != "" || errb == "" {
			t.Errorf("%q = %d, %q, %q; want exit 2 with a message on stderr", args, code, out, errb)
		}
	}
	for _, name := range []string{"put", "get", "del", "stats", "ping"} {
		code, out, _ := cli(t, name, "--help")
		if code != exitOK || !strings.Contains(out, "Usage: distridata "+name) || !strings.Contains(out, "Exit codes:") {
			t.Errorf("%s --help = %d %q", name, code, out)
		}
	}
	if _, out, _ := cli(t, "get", "-h"); !strings.Contains(out, "no newline is added") || !strings.Contains(out, "-r int") {
		t.Errorf("get -h does not document its output and --r: %q", out)
	}
}

func TestDataCommandFailures(t *testing.T) {
	verifyNoLeaks(t)
	srv := clienttest.Start(t, clienttest.Options{Token: "tok", Hook: func(r clienttest.Request) clienttest.Action {
		switch r.Key {
		case "slow":
			return clienttest.Action{Fail: protocol.StatusTimeout}
		case "busy":
			return clienttest.Action{Fail: protocol.StatusBusy}
		case "silent":
			return clienttest.Action{Drop: true}
		}
		return clienttest.Action{}
	}})
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth := []string{"--addr", srv.Addr(), "--token-file", tokFile}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"put", "--addr", srv.Addr(), "k", "v"}, "status=UNAUTHORIZED outcome=failed"},
		{append([]string{"put", "slow", "v"}, auth...), "status=TIMEOUT outcome=unknown"},
		{append([]string{"put", "busy", "v"}, auth...), "status=BUSY outcome=failed"},
		{append([]string{"put", "--timeout=100ms", "silent", "v"}, auth...), "status=none outcome=unknown"},
		{append([]string{"get", "--timeout=100ms", "silent"}, auth...), "status=none outcome=failed"},
		{[]string{"ping", "--addr", "127.0.0.1:1"}, "status=none outcome=failed"},
	}
	for _, tc := range cases {
		start := time.Now()
		code, out, errb := cli(t, tc.args...)
		if code != exitUnavailable || out != "" || !strings.Contains(errb, tc.want) || strings.Count(errb, "\n") != 1 {
			t.Errorf("%q = %d %q %q; want exit 3 and one line with %q", tc.args, code, out, errb, tc.want)
		}
		if time.Since(start) > 3*time.Second {
			t.Errorf("%q took %v", tc.args, time.Since(start))
		}
	}
	if code, _, errb := cli(t, append([]string{"ping"}, auth...)...); code != exitOK {
		t.Fatalf("ping with --token-file = %d %q", code, errb)
	}
}
