package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/internal/clustertest"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

// startReloadable starts a cluster with an admin listener and returns it
// with the config the daemon was started with, for reloads to vary.
func startReloadable(t *testing.T, o clustertest.Options) (*clustertest.Cluster, daemon.Config) {
	t.Helper()
	var cfg daemon.Config
	adjust := o.Daemon
	o.Daemon = func(c *daemon.Config) {
		if adjust != nil {
			adjust(c)
		}
		c.Admin = "127.0.0.1:0"
		cfg = *c
	}
	return clustertest.Start(t, o), cfg
}

// dial connects a client with token.
func dial(t *testing.T, addr, token string) (*client.Conn, error) {
	t.Helper()
	o := client.DefaultOptions()
	o.Token = token
	c, err := client.Dial(ctxT(t), addr, o)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// A reload that lowers MaxFrameSize applies to the next frame of a
// connection opened before it (refused TOO_LARGE, though the client's
// HELLO limits allowed it) and to the limits new connections learn.
func TestReloadLowersMaxFrameSize(t *testing.T) {
	cl, cfg := startReloadable(t, clustertest.Options{})
	ctx := ctxT(t)
	old := cl.Client()
	big := bytes.Repeat([]byte("x"), 8<<10)
	if _, err := old.Put(ctx, []byte("k"), big); err != nil {
		t.Fatal(err)
	}
	next := cfg
	next.Limits.MaxFrameSize, next.Limits.MaxValueSize = 4<<10, 2<<10
	if err := cl.Daemon.Reload(next); err != nil {
		t.Fatal(err)
	}
	_, err := old.Put(ctx, []byte("k"), big)
	var se *client.StatusError
	if !errors.As(err, &se) || se.Status != protocol.StatusTooLarge || se.Local {
		t.Fatalf("frame above the new limit on an old connection: %v, want TOO_LARGE from the daemon", err)
	}
	c := cl.Client()
	if got := c.ServerInfo().Limits; got.MaxFrameSize != 4<<10 || got.MaxValueSize != 2<<10 {
		t.Fatalf("new connection learnt limits %+v", got)
	}
	if _, err := c.Put(ctx, []byte("k"), []byte("small")); err != nil {
		t.Fatalf("small put after the reload: %v", err)
	}
}

// A new token applies to new connections; connections that passed HELLO
// under the old one keep working.
func TestReloadToken(t *testing.T) {
	cl, cfg := startReloadable(t, clustertest.Options{Token: "old-token"})
	ctx := ctxT(t)
	before := cl.Client()
	next := cfg
	next.Token = "new-token"
	if err := cl.Daemon.Reload(next); err != nil {
		t.Fatal(err)
	}
	if _, err := before.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatalf("connection authenticated before the reload: %v", err)
	}
	_, err := dial(t, cl.Addr(), "old-token")
	var se *client.StatusError
	if !errors.As(err, &se) || se.Status != protocol.StatusUnauthorized {
		t.Fatalf("old token after the reload: %v, want UNAUTHORIZED", err)
	}
	c, err := dial(t, cl.Addr(), "new-token")
	if err != nil {
		t.Fatalf("new token: %v", err)
	}
	if _, _, err := c.Get(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
}

// An invalid limit, or a quorum above the running N, is refused whole:
// the old settings keep serving and the failure is counted.
func TestReloadInvalidKeepsOld(t *testing.T) {
	var all []ring.Node
	var cfg daemon.Config
	cl := clustertest.Start(t, clustertest.Options{Nodes: 4, N: 3, Daemon: func(c *daemon.Config) {
		all = slices.Clone(c.Nodes)
		c.Nodes = c.Nodes[:3]
		c.Admin = "127.0.0.1:0"
		cfg = *c
	}})
	d := cl.Daemon
	badFrame := cfg
	badFrame.Limits.MaxFrameSize = 10 // below the header
	badFrame.MemoryBudget = 1         // valid, but must not apply either
	// Valid alone, but N needs a restart, and W=4 exceeds the running N=3.
	badW := cfg
	badW.Nodes, badW.Replica.N, badW.Replica.W = all, 4, 4
	for name, bad := range map[string]daemon.Config{"frame": badFrame, "w": badW} {
		if err := d.Reload(bad); !errors.Is(err, daemon.ErrConfig) {
			t.Errorf("%s: reload: %v, want ErrConfig", name, err)
		}
	}
	c := cl.Client()
	want := cfg.Limits
	want.MaxPreAuthFrameSize = 0 // not sent in HELLO
	if got := c.ServerInfo().Limits; got != want {
		t.Fatalf("limits after refused reloads: %+v, want %+v", got, want)
	}
	if _, err := c.Put(ctxT(t), []byte("k"), bytes.Repeat([]byte("x"), 64<<10)); err != nil {
		t.Fatalf("put after refused reloads: %v", err)
	}
	if d.Ring().Epoch() != 1 {
		t.Fatalf("ring epoch %d", d.Ring().Epoch())
	}
	code, body := httpGet(t, "http://"+d.AdminAddr()+"/metrics")
	if code != 200 || !strings.Contains(body, "distridata_reload_failures_total 2") || !strings.Contains(body, "distridata_reloads_total 0") {
		t.Fatalf("metrics: %d, want 2 failures and 0 reloads", code)
	}
}

// Reloads of limits, windows, timeouts and quorums while requests flow:
// every request succeeds (both configs admit them) and -race sees no race
// between the reload and the loops, workers and sweeper.
func TestReloadUnderTraffic(t *testing.T) {
	cl, cfg := startReloadable(t, clustertest.Options{})
	a, b := cfg, cfg
	b.Limits.MaxFrameSize, b.Limits.MaxValueSize = 64<<10, 32<<10
	b.ConnWindow, b.ConnWindowBytes, b.MemoryBudget = 4, 64<<10, 8<<20
	b.DefaultTimeout, b.IdleTimeout, b.FrameTimeout = 3*time.Second, time.Minute, 5*time.Second
	// W and R change, but every pair of them overlaps (W+R > N=3) across a
	// reload too: a PUT acknowledged by 2 owners before a reload and a GET
	// at R=1 after it could read the third, which may not have it yet
	// (NOT_FOUND, 4 of 24 runs under load), as the contract allows.
	b.Replica.W, b.Replica.R, b.Replica.Timeout, b.Replica.ReadRepair = 3, 2, 3*time.Second, false
	a.Replica.W, a.Replica.R = 2, 3
	// Bounded in count; the deadline only catches a hang (-race on two
	// loaded cores makes each request slow).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const workers, perWorker = 4, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		c := cl.Client()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				k := []byte(fmt.Sprintf("w%d-%d", w, i%20))
				if _, err := c.Put(ctx, k, []byte("value")); err != nil {
					errs <- err
					return
				}
				if _, _, err := c.Get(ctx, k); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	reloads := 0
	for done := waitChan(&wg); ; reloads++ {
		select {
		case <-done:
		default:
			next := a
			if reloads%2 == 0 {
				next = b
			}
			if err := cl.Daemon.Reload(next); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		break
	}
	close(errs)
	for err := range errs {
		t.Errorf("request during reloads: %v", err)
	}
	if reloads == 0 {
		t.Fatal("no reload ran while requests flowed")
	}
	t.Logf("%d reloads during %d requests", reloads, 2*workers*perWorker)
}

// waitChan closes its channel once wg is done.
func waitChan(wg *sync.WaitGroup) <-chan struct{} {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	return ch
}
