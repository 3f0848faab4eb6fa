package reliability_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
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

// outputTimeout is daemon.DefaultOutputTimeout (see frameTimeout): a
// client whose replies make no progress for this long is closed.
const outputTimeout = 10 * time.Second

// H4 bounds, each with its reason.
const (
	// h4Conns is the 500 slowloris connections.
	h4Conns = 500
	// h4Bound is the bound on the canary's p99 under attack, applied
	// to what the attack adds over an unattacked control (see TestH4Slowloris).
	h4Bound = 50 * time.Millisecond
	// h4Slack is allowed past the frame deadline for the daemon's sweep
	// (a quarter of the timeout apart) and the client seeing the closes.
	h4Slack = 3 * time.Second
)

// H4: 500 slowloris connections dribble a HELLO at 1 byte/s, from a
// process of their own (`distridata idle --trickle 1s`) so that this
// process, which runs the canary, measures the daemon and not its own
// scheduling of 500 sockets. The daemon's frame deadline (FrameTimeout;
// serve has no flag for it, so the default applies) closes every one of
// them, and meanwhile the latency the attack adds to a canary's PUT+GET p99
// stays under 50 ms. "Adds" is measured against a control: an identical
// cluster that nobody attacks, whose canary runs at the same time. On this
// shared machine scheduling noise alone took an unattacked canary's p99
// from 11 ms to 131 ms (CI runs next to other jobs), which an absolute
// bound cannot tell from a slow daemon; a daemon that blocks its loop 2 ms
// per partial frame adds about 600 ms. The canary's p99 before the attack
// and the daemon's CPU share are reported too.
func TestH4Slowloris(t *testing.T) {
	needFull(t)
	// Nodes skip fsync: the canary measures the daemon's front end under
	// slowloris, and fsync latency on a disk other jobs share (tens of ms
	// at random) is noise that has nothing to do with it.
	c := systest.Start(t, systest.Options{NodeArgs: []string{"--sync", "none"}})
	control := systest.Start(t, systest.Options{NodeArgs: []string{"--sync", "none"}})
	// The canary's p99 without slowloris, so a miss can be told apart from
	// a machine that is simply slow.
	bstop := make(chan struct{})
	baseline := canaryLoop(t, c, 20*time.Millisecond, bstop)
	cpu0, bstart := cpuTime(t, c.Daemon.PID()), time.Now()
	time.Sleep(4 * time.Second)
	close(bstop)
	baseCPU := cpuShare(cpuTime(t, c.Daemon.PID())-cpu0, time.Since(bstart))
	baseP99 := percentile(baseline(), 0.99)
	before := daemonStat(t, c, "frame_timeout_closes")
	limit := frameTimeout + h4Slack
	start, cpu1 := time.Now(), cpuTime(t, c.Daemon.PID())
	loris := systest.StartClient(t, "slowloris", "idle", "--addr", c.Addr(), "--conns", strconv.Itoa(h4Conns),
		"--trickle", "1s", "--hold", limit.String())
	stop := make(chan struct{})
	canaries := canaryLoop(t, c, 20*time.Millisecond, stop)
	controls := canaryLoop(t, control, 20*time.Millisecond, stop)
	err := loris.Wait(limit + 30*time.Second) // it ends once all are closed, or at the limit
	close(stop)
	attackCPU := cpuShare(cpuTime(t, c.Daemon.PID())-cpu1, time.Since(start))
	cops := canaries()
	controlP99 := percentile(controls(), 0.99)
	if err != nil {
		t.Fatalf("slowloris client: %v\n%s", err, loris.Tail(1024))
	}
	out := strings.TrimSpace(loris.Tail(1024))
	var opened, refused, closed int
	var lastText string
	_, err = fmt.Sscanf(out, "opened %d refused %d closed %d last_close %s", &opened, &refused, &closed, &lastText)
	last, perr := time.ParseDuration(lastText)
	if err != nil || perr != nil {
		t.Fatalf("slowloris client reported %q: %v %v", out, err, perr)
	}
	for _, op := range cops {
		if op.Took > h4Bound/2 { // when, to tell the trickle rounds or the mass close apart from noise
			t.Logf("slow canary %v after the first: %v", time.Duration(op.Call-cops[0].Call), op.Took)
		}
	}
	p99 := percentile(cops, 0.99)
	if opened != h4Conns || closed != opened {
		t.Errorf("slowloris client: %q; want all %d opened and closed by the daemon within %v", out, h4Conns, limit)
	}
	swept := daemonStat(t, c, "frame_timeout_closes") - before
	if swept < int64(opened) {
		t.Errorf("frame_timeout_closes rose by %d for %d slowloris connections; want each closed by the frame deadline", swept, opened)
	}
	if p99-controlP99 >= h4Bound {
		t.Errorf("canary p99 %v under slowloris, %v on the unattacked control at the same time (%v before the attack); want less than %v added",
			p99, controlP99, baseP99, h4Bound)
	}
	if o := outcomes(cops); o[systest.OK] != len(cops) {
		t.Errorf("canary outcomes under slowloris: %v", o)
	}
	summary(t, "slowloris_conns=%d opened=%d closed=%d last_close=%v frame_timeout_closes=%d canaries=%d canary_p99=%v control_p99=%v baseline_p99=%v bound=%v added daemon_cpu=%.1f%% (baseline %.1f%%)",
		h4Conns, opened, closed, last.Round(time.Millisecond), swept, len(cops), p99, controlP99, baseP99, h4Bound, attackCPU, baseCPU)
}

// cpuTime is the user plus system CPU time of process pid so far, from
// /proc/pid/stat (fields 14 and 15, in clock ticks of 10 ms).
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatalf("cpu time: %v", err)
	}
	// The command name (field 2) may hold spaces; fields count from its ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// cpuShare is cpu as a percentage of one core over wall.
func cpuShare(cpu, wall time.Duration) float64 { return 100 * float64(cpu) / float64(wall) }

// H6: a client pipelines GETs of a 64 KiB value and never reads the
// replies. The daemon must stop decoding its GETs at the output window,
// close it, grow by less than 40 MiB, and keep serving. Which close comes
// first depends on how much the client pipelines: 200k GETs (13 GB of
// replies, 5.8 MB of requests) pass the 1 MiB of input a connection may
// buffer behind a full output window, so the input cap closes it; 4096
// GETs stay below, so the stall of its replies does, after outputTimeout.
func TestH6NonReadingClient(t *testing.T) {
	needFull(t)
	c := systest.Start(t, systest.Options{})
	conn := c.Dial(c.Addr())
	key := []byte("h6/big")
	if _, err := conn.Put(context.Background(), key, make([]byte, 64<<10)); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	for _, tc := range []struct {
		gets int
		want string // the close counter expected to move
	}{
		{200_000, "cap_closes_inbound"},
		{4096, "output_stall_closes"},
	} {
		t.Run(strconv.Itoa(tc.gets), func(t *testing.T) { nonReader(t, c, key, tc.gets, tc.want) })
	}
}

// nonReader pipelines gets GETs of key without reading, and checks that
// the daemon closes it by the close counter want, within bounded memory.
func nonReader(t *testing.T, c *systest.Cluster, key []byte, gets int, want string) {
	closeStats := []string{"cap_closes_outbound", "output_stall_closes", "cap_closes_inbound"}
	stats := func() map[string]int64 {
		m := map[string]int64{}
		for _, name := range append(closeStats, "requests_get") {
			m[name] = daemonStat(t, c, name)
		}
		return m
	}
	closes := func(m map[string]int64) int64 {
		var n int64
		for _, name := range closeStats {
			n += m[name]
		}
		return n
	}
	before := stats()
	base, _ := c.Daemon.RSS()
	nc, err := systest.DialRaw(c.Addr(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetReadBuffer(4 << 10)
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
	// Write until every GET is sent, the daemon closes us, or it stops
	// reading our socket for a while.
	start := time.Now()
	sent, chunk := 0, 64<<10
	var werr error
	for sent < len(frames) && werr == nil {
		nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		var n int
		n, werr = nc.Write(frames[sent:min(sent+chunk, len(frames))])
		sent += n
	}
	deadline := time.Now().Add(outputTimeout + 5*time.Second)
	after := stats()
	for closes(after) == closes(before) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		after = stats()
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	growth := peak.Load() - base
	if closes(after) == closes(before) {
		t.Errorf("the daemon did not close a client that never reads (write err %v)", werr)
	} else if after[want] == before[want] {
		t.Errorf("closed, but not by %s: %v before, %v after", want, before, after)
	}
	if growth >= 40<<20 {
		t.Errorf("a non-reading client grew the daemon by %d MiB; want < 40 MiB", growth>>20)
	}
	canary(t, c, 1)
	summary(t, "pipelined_gets=%d sent=%d decoded=%d value_kib=64 closed_by=%s closed_after=%v rss_growth_mib=%.1f peak_rss_mib=%.1f",
		gets, sent*gets/len(frames), after["requests_get"]-before["requests_get"], closedBy(before, after, closeStats),
		took.Round(10*time.Millisecond), float64(growth)/(1<<20), float64(peak.Load())/(1<<20))
}

// closedBy names the close counters that moved.
func closedBy(before, after map[string]int64, names []string) string {
	var moved []string
	for _, name := range names {
		if d := after[name] - before[name]; d != 0 {
			moved = append(moved, name+"+"+strconv.FormatInt(d, 10))
		}
	}
	return strings.Join(moved, ",")
}
