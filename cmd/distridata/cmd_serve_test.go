package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/storage"
)

// syncBuffer is a bytes.Buffer safe for a server goroutine to write while
// the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs a server subcommand in the background until the test
// ends, and returns the address it printed after prefix.
func startServer(t *testing.T, runCmd func(context.Context, []string, io.Writer, io.Writer) int, args []string, prefix string) (string, func() int) {
	t.Helper()
	addr, stop, _ := startServerOut(t, runCmd, args, prefix)
	return addr, stop
}

// lineAfter returns the first word after prefix in out, or "".
func lineAfter(out, prefix string) string {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			return strings.Fields(rest)[0]
		}
	}
	return ""
}

// startServerOut is startServer that also returns the server's stdout.
func startServerOut(t *testing.T, runCmd func(context.Context, []string, io.Writer, io.Writer) int, args []string, prefix string) (string, func() int, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- runCmd(ctx, args, out, errb) }()
	stop := func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(20 * time.Second):
			t.Fatal("server did not stop")
			return -1
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if a := lineAfter(out.String(), prefix); a != "" {
			return a, stop, out
		}
		select {
		case code := <-done:
			t.Fatalf("server exited %d: %s", code, errb.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	stop()
	t.Fatalf("no %q line; stderr: %s", prefix, errb.String())
	return "", nil, nil
}

func startNodes(t *testing.T, n int) string {
	t.Helper()
	var list []string
	for i := 1; i <= n; i++ {
		cfg := storage.DefaultConfig()
		cfg.Engine = storage.EngineMemory
		cfg.ID = uint32(i)
		s, err := storage.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		list = append(list, string(rune('0'+i))+"="+s.Addr().String())
	}
	return strings.Join(list, ",")
}

func TestServeEndToEnd(t *testing.T) {
	verifyNoLeaks(t)
	nodes := startNodes(t, 3)
	args := []string{"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--nodes", nodes, "--data-dir", t.TempDir(), "--log-level", "error"}
	addr, stop, out := startServerOut(t, runServe, args, "distridata serving on ")
	if code, _, errs := cli(t, "put", "--addr="+addr, "k", "v"); code != exitOK {
		t.Fatalf("put: %d %s", code, errs)
	}
	admin := lineAfter(out.String(), "admin listening on ")
	if code, out, errs := cli(t, "explain", "--admin", admin, "k"); code != exitOK || strings.Count(out, " OK ") != 3 || !strings.Contains(out, "ring epoch 1") {
		t.Fatalf("explain: %d %q %s", code, out, errs)
	}
	if code, out, errs := cli(t, "get", "--addr="+addr, "k"); code != exitOK || out != "v" {
		t.Fatalf("get: %d %q %s", code, out, errs)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("serve exited %d", code)
	}
}

func TestServeRefusesPublicWithoutToken(t *testing.T) {
	nodes := "1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3"
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--listen", "0.0.0.0:7379"}, false},
		{[]string{"--listen", ":7379"}, false},
		{[]string{"--listen", "[::1]:7379"}, true},
		{[]string{"--listen", "localhost:7379"}, true},
		{[]string{"--listen", "0.0.0.0:7379", "--insecure-public"}, true},
		{[]string{"--admin", "0.0.0.0:7380"}, false},
		{[]string{"--admin", ":7380"}, false},
		{[]string{"--admin", ""}, true},
		{[]string{"--admin", "0.0.0.0:7380", "--insecure-public"}, true},
	} {
		o, err := parseServe(append(tc.args, "--nodes", nodes), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		_, err = o.daemonConfig(io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("%v: err %v", tc.args, err)
		}
	}
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	o, _ := parseServe([]string{"--listen", "0.0.0.0:7379", "--nodes", nodes, "--token-file", tok}, io.Discard)
	cfg, err := o.daemonConfig(io.Discard)
	if err != nil || cfg.Token != "s3cret" {
		t.Fatalf("with token: %q %v", cfg.Token, err)
	}
}

func TestServeConfigFileAndFlagPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "distridata.toml")
	os.WriteFile(file, []byte(`listen = "127.0.0.1:9999"
nodes = "a=127.0.0.1:1,b=127.0.0.1:2,c=127.0.0.1:3"
w = 3
id = 7
drain-timeout = "3s"
`), 0o600)
	o, err := parseServe([]string{"--config", file, "--w", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.daemonConfig(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9999" || cfg.Replica.W != 1 || cfg.ID != 7 || len(cfg.Nodes) != 3 || cfg.Nodes[1].ID != "b" || o.DrainTimeout != 3*time.Second {
		t.Fatalf("got listen %s W %d id %d nodes %v drain %v", cfg.Listen, cfg.Replica.W, cfg.ID, cfg.Nodes, o.DrainTimeout)
	}
	os.WriteFile(file, []byte("lisen = \"x\"\n"), 0o600)
	if _, err := parseServe([]string{"--config", file}, io.Discard); err == nil || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestServeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--nodes", ""},
		{"--nodes", "1=nope"},
		{"--nodes", "1=127.0.0.1:1", "--n", "3"}, // fewer nodes than replicas
		{"--bogus"},
		{"extra"},
	} {
		if code, _, _ := cli(t, append([]string{"serve"}, args...)...); code != exitUsage {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}

// SIGHUP re-reads the config file: a fourth node joins (ring epoch 2); a
// broken file is refused and counted while the daemon keeps serving.
func TestServeSIGHUPReload(t *testing.T) {
	verifyNoLeaks(t)
	nodes := strings.Split(startNodes(t, 4), ",")
	file := filepath.Join(t.TempDir(), "serve.toml")
	write := func(text string) {
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nlog-level = \"error\"\ndata-dir = \"\"\n[ring]\npartitions = 256\n"
	write(strings.Replace(base, "[ring]", "nodes = \""+strings.Join(nodes[:3], ",")+"\"\n[ring]", 1))
	addr, stop, out := startServerOut(t, runServe, []string{"--config", file}, "distridata serving on ")
	admin := "http://" + lineAfter(out.String(), "admin listening on ") + "/metrics"
	if code, _, errs := cli(t, "put", "--addr="+addr, "k", "v"); code != exitOK {
		t.Fatalf("put: %d %s", code, errs)
	}
	waitMetric := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			if strings.Contains(scrape(t, admin), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q in metrics", want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	write(strings.Replace(base, "[ring]", "nodes = \""+strings.Join(nodes, ",")+"\"\n[ring]", 1))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitMetric("distridata_ring_epoch 2")
	waitMetric("distridata_ring_nodes 4")
	write("nodes = 3\n") // wrong type
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitMetric("distridata_reload_failures_total 1")
	if m := scrape(t, admin); !strings.Contains(m, "distridata_ring_epoch 2") {
		t.Fatal("bad reload changed the ring")
	}
	if code, out, errs := cli(t, "get", "--addr="+addr, "k"); code != exitOK || out != "v" {
		t.Fatalf("get after reloads: %d %q %s", code, out, errs)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("serve exited %d", code)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// fakeReloader records reloads (a config that failed to load as its
// error) and serves a settable behind counter.
type fakeReloader struct {
	behind  atomic.Uint64
	reloads chan any
}

func (f *fakeReloader) Reload(cfg daemon.Config) error { f.reloads <- cfg; return nil }
func (f *fakeReloader) ReloadFailed(err error)         { f.reloads <- err }
func (f *fakeReloader) Behind() uint64                 { return f.behind.Load() }

func (f *fakeReloader) next(t *testing.T) daemon.Config {
	t.Helper()
	switch r := (<-f.reloads).(type) {
	case daemon.Config:
		return r
	default:
		t.Fatalf("reload failed: %v", r)
	}
	return daemon.Config{}
}

// The reload loop re-reads the config on SIGHUP and on a check that finds
// the daemon's behind counter risen (the nodes refuse its ring: the file
// may list the membership they committed), not on a check that finds it
// unchanged. The channels are unbuffered, so each send returns only once
// the loop has taken it: the order is fixed without any timing.
func TestReloadLoopReloadsWhenBehind(t *testing.T) {
	file := filepath.Join(t.TempDir(), "serve.toml")
	const members = "a=127.0.0.1:1,b=127.0.0.1:2,c=127.0.0.1:3"
	if err := os.WriteFile(file, []byte("nodes = \""+members+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fakeReloader{reloads: make(chan any, 10)}
	hup, tick := make(chan os.Signal), make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reloadLoop(ctx, hup, tick, []string{"--config", file}, f)
	}()
	tick <- time.Time{} // behind unchanged: no reload
	f.behind.Store(3)
	tick <- time.Time{} // risen: reload
	if cfg := f.next(t); len(cfg.Nodes) != 3 || cfg.Nodes[0].ID != "a" {
		t.Fatalf("reload with %+v, want the file's membership", cfg.Nodes)
	}
	tick <- time.Time{} // unchanged since: no reload
	hup <- syscall.SIGHUP
	f.next(t)
	tick <- time.Time{} // the loop is past the SIGHUP's reload
	cancel()
	<-done
	if n := len(f.reloads); n != 0 {
		t.Fatalf("%d reloads beyond the SIGHUP's and the rise's", n)
	}
}

// alwaysBehind is refused again before every check.
type alwaysBehind struct{ fakeReloader }

func (f *alwaysBehind) Behind() uint64 { return f.behind.Add(1) }

// While the nodes keep refusing the daemon after a reload (the file is
// stale too), automatic reloads back off: after 1, 2, 4, ... ticks, not at
// every tick; a tick without new refusals resets the backoff.
func TestReloadLoopBacksOffWhileStillBehind(t *testing.T) {
	file := filepath.Join(t.TempDir(), "serve.toml")
	if err := os.WriteFile(file, []byte("nodes = \"a=127.0.0.1:1,b=127.0.0.1:2,c=127.0.0.1:3\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &alwaysBehind{fakeReloader{reloads: make(chan any, 100)}}
	hup, tick := make(chan os.Signal), make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reloadLoop(ctx, hup, tick, []string{"--config", file}, f)
	}()
	for range 12 {
		tick <- time.Time{}
	}
	cancel()
	<-done
	// Reloads at ticks 1, 3, 6 and 11 (1, 2 and 4 ticks skipped between).
	if n := len(f.reloads); n != 4 {
		t.Fatalf("%d reloads in 12 ticks while always behind; want 4 (backoff)", n)
	}
}
