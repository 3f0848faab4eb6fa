package reliability_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/internal/systest"
	"github.com/distridata/distridata/protocol"
)

// daemonStat reads one counter from the daemon's STATS text.
func daemonStat(t *testing.T, c *systest.Cluster, name string) int64 {
	t.Helper()
	conn := c.Dial(c.Addr())
	defer conn.Close()
	text, err := conn.Stats(context.Background())
	if err != nil {
		t.Fatalf("STATS: %v", err)
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatalf("STATS has no %s:\n%s", name, text)
	return 0
}

// canaryLoop runs PUT+GET round trips on one connection every interval
// until stop closes, and returns their durations.
func canaryLoop(t *testing.T, c *systest.Cluster, interval time.Duration, stop <-chan struct{}) func() []systest.Op {
	conn := c.Dial(c.Addr())
	h := systest.NewHistory()
	var ops []systest.Op
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
			key := []byte("canary/loop/" + strconv.Itoa(i))
			op := systest.Op{Kind: systest.Put, Key: string(key), Call: h.Now()}
			_, err := conn.Put(context.Background(), key, []byte("x"))
			if err == nil {
				_, _, err = conn.Get(context.Background(), key)
			}
			op.Took = time.Duration(h.Now() - op.Call)
			op.Outcome, _ = systest.Classify(err)
			ops = append(ops, op)
		}
	}()
	return func() []systest.Op { <-done; return ops }
}

// frameTimeout is daemon.DefaultFrameTimeout, which serve does not expose
// as a flag. Importing daemon here would start gnet's worker pool in the
// test process (and trip goleak), hence the copy.
const frameTimeout = 10 * time.Second

// H4 (shortened): 200 slowloris connections dribble a HELLO at 1 byte/s.
// The daemon's frame deadline (FrameTimeout; serve has no flag for it, so
// the default applies) closes every one of them, and meanwhile a canary's
// PUT+GET p99 stays under 50 ms.
func TestH4Slowloris(t *testing.T) {
	needFull(t)
	c := systest.Start(t, systest.Options{})
	const conns = 200
	// The canary's p99 without slowloris, so a miss can be told apart from
	// a machine that is simply slow.
	bstop := make(chan struct{})
	baseline := canaryLoop(t, c, 20*time.Millisecond, bstop)
	time.Sleep(2 * time.Second)
	close(bstop)
	baseP99 := percentile(baseline(), 0.99)
	before := daemonStat(t, c, "frame_timeout_closes")
	var open []net.Conn
	for range conns {
		nc, err := systest.DialRaw(c.Addr(), false)
		if err != nil {
			t.Fatalf("slowloris dial: %v", err)
		}
		open = append(open, nc)
	}
	defer func() {
		for _, nc := range open {
			nc.Close()
		}
	}()
	stop := make(chan struct{})
	canaries := canaryLoop(t, c, 20*time.Millisecond, stop)
	hello := systest.ClientHello()
	start := time.Now()
	limit := frameTimeout + 3*time.Second
	closedAt := make([]time.Duration, conns)
	closed := 0
	for i := 0; closed < conns && time.Since(start) < limit; i++ {
		for j, nc := range open {
			if closedAt[j] != 0 {
				continue
			}
			nc.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
			_, err := nc.Write(hello[i%len(hello) : i%len(hello)+1])
			if err == nil {
				nc.SetReadDeadline(time.Now().Add(time.Millisecond))
				_, err = nc.Read(make([]byte, 64))
				if isTimeout(err) {
					err = nil
				}
			}
			if err != nil {
				closedAt[j] = time.Since(start)
				closed++
			}
		}
		time.Sleep(time.Second)
	}
	close(stop)
	cops := canaries()
	p99 := percentile(cops, 0.99)
	if closed != conns {
		t.Errorf("%d of %d slowloris connections still open after %v", conns-closed, conns, limit)
	}
	if p99 >= 50*time.Millisecond {
		t.Errorf("canary p99 %v under slowloris (%v without); want < 50ms", p99, baseP99)
	}
	if o := outcomes(cops); o[systest.OK] != len(cops) {
		t.Errorf("canary outcomes under slowloris: %v", o)
	}
	swept := daemonStat(t, c, "frame_timeout_closes") - before
	summary(t, "slowloris_conns=%d closed=%d frame_timeout_closes=%d canaries=%d canary_p99=%v baseline_p99=%v", conns, closed, swept, len(cops), p99, baseP99)
}

// H6: a client pipelines GETs of a 64 KiB value and never reads the
// replies. The daemon must close it at its output cap, growing by less
// than 40 MiB, and keep serving.
func TestH6NonReadingClient(t *testing.T) {
	needFull(t)
	c := systest.Start(t, systest.Options{})
	conn := c.Dial(c.Addr())
	key := []byte("h6/big")
	if _, err := conn.Put(context.Background(), key, make([]byte, 64<<10)); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	before := daemonStat(t, c, "cap_closes_outbound")
	base, _ := c.Daemon.RSS()
	nc, err := systest.DialRaw(c.Addr(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetReadBuffer(4 << 10)
	const gets = 4096 // 256 MiB of replies: far past any sane cap
	var frames []byte
	for i := range gets {
		frames = protocol.AppendGet(frames, uint64(i+1), protocol.KeyRequest{Key: key})
	}
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if r, err := c.Daemon.RSS(); err == nil && r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
	_, werr := nc.Write(frames)
	deadline := time.Now().Add(10 * time.Second)
	for daemonStat(t, c, "cap_closes_outbound") == before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	capped := daemonStat(t, c, "cap_closes_outbound") - before
	growth := peak.Load() - base
	if capped == 0 {
		t.Errorf("the daemon did not close a client that never reads (write err %v)", werr)
	}
	if growth >= 40<<20 {
		t.Errorf("a non-reading client grew the daemon by %d MiB; want < 40 MiB", growth>>20)
	}
	canary(t, c, 1)
	summary(t, "pipelined_gets=%d value_kib=64 cap_closes=%d rss_growth_mib=%.1f peak_rss_mib=%.1f",
		gets, capped, float64(growth)/(1<<20), float64(peak.Load())/(1<<20))
}
