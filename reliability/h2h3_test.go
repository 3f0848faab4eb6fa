package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/internal/systest"
	"github.com/distridata/distridata/protocol"
)

// truncFrame is a valid frame to cut short.
type truncFrame struct {
	name  string
	hello bool // sent after HELLO (false only for HELLO itself)
	frame func(off int) []byte
}

// h2Frames are every client frame type, each writing to keys unique to
// the cut offset so that "nothing applied" can be checked per cut.
func h2Frames() []truncFrame {
	opts := protocol.Options{Quorum: 2, DeadlineMs: 1000}
	k := func(kind string, off int) []byte { return []byte(fmt.Sprintf("h2/%s/%04d", kind, off)) }
	return []truncFrame{
		{"HELLO", false, func(int) []byte { return systest.ClientHello() }},
		{"PUT", true, func(o int) []byte {
			return protocol.AppendPut(nil, 2, protocol.Put{Options: opts, Key: k("put", o), Value: []byte("must-not-be-applied")})
		}},
		{"GET", true, func(o int) []byte {
			return protocol.AppendGet(nil, 3, protocol.KeyRequest{Options: opts, Key: k("get", o)})
		}},
		{"DEL", true, func(int) []byte {
			return protocol.AppendDel(nil, 4, protocol.KeyRequest{Options: opts, Key: []byte(h2DelKey)})
		}},
		{"MPUT", true, func(o int) []byte {
			return protocol.AppendMPut(nil, 5, opts, []protocol.KV{{Key: k("mput-a", o), Value: []byte("x")}, {Key: k("mput-b", o), Value: []byte("y")}})
		}},
		{"MGET", true, func(o int) []byte { return protocol.AppendMGet(nil, 6, opts, [][]byte{k("mget-a", o), k("mget-b", o)}) }},
		{"PING", true, func(int) []byte { return protocol.AppendPing(nil, 7, []byte("ping")) }},
		{"STATS", true, func(int) []byte { return protocol.AppendStats(nil, 8) }},
	}
}

// h2DelKey exists before the test; a truncated DEL must leave it.
const h2DelKey = "h2/del-target"

// H2: every valid frame cut at every byte offset, then closed (or left
// idle): the daemon never hangs, answers nothing for the partial frame,
// applies nothing, and keeps serving.
func TestH2TruncatedFrames(t *testing.T) {
	c := systest.Start(t, systest.Options{})
	conn := c.Dial(c.Addr())
	ctx := context.Background()
	if _, err := conn.Put(ctx, []byte(h2DelKey), []byte(systest.ValueFor(h2DelKey, "keep", 0))); err != nil {
		t.Fatalf("cannot prepare: %v", err)
	}
	var idle []net.Conn
	defer func() {
		for _, nc := range idle {
			nc.Close()
		}
	}()
	cuts, answered := 0, 0
	var written [][]byte
	for _, tf := range h2Frames() {
		for off := 1; off < len(tf.frame(0)); off++ {
			b := tf.frame(off)[:off]
			for _, keepIdle := range []bool{false, true} {
				cuts++
				nc, err := systest.DialRaw(c.Addr(), tf.hello)
				if err != nil {
					t.Fatalf("%s cut at %d: cannot dial: %v", tf.name, off, err)
				}
				nc.Write(b)
				if keepIdle {
					idle = append(idle, nc)
					continue
				}
				nc.Close()
			}
		}
		written = append(written, tf.frame(0))
	}
	// The idle connections hold partial frames; nothing may be answered
	// on them, and the daemon must serve others meanwhile.
	canary(t, c, 1)
	for _, nc := range idle {
		nc.SetReadDeadline(time.Now().Add(time.Millisecond))
		if f, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrameSize); err == nil {
			answered++
			t.Errorf("a partial frame was answered: %v %v", f.Op, f.Status)
		}
	}
	for _, nc := range idle {
		nc.Close()
	}
	idle = nil
	applied := h2Applied(t, conn)
	canary(t, c, 2)
	summary(t, "frame_types=%d cuts=%d answered=%d applied=%d", len(written), cuts, answered, applied)
}

// h2Applied checks that no truncated write took effect: the PUT and MPUT
// keys of every cut are absent, and the DEL target is still there.
func h2Applied(t *testing.T, conn *client.Conn) int {
	t.Helper()
	ctx := context.Background()
	applied := 0
	for off := 1; off < 200; off++ {
		for _, kind := range []string{"put", "mput-a", "mput-b"} {
			key := fmt.Sprintf("h2/%s/%04d", kind, off)
			if _, _, err := conn.Get(ctx, []byte(key)); !errors.Is(err, client.ErrNotFound) {
				applied++
				t.Errorf("truncated write applied: GET %s: %v", key, err)
			}
		}
	}
	if _, _, err := conn.Get(ctx, []byte(h2DelKey)); err != nil {
		applied++
		t.Errorf("truncated DEL applied: GET %s: %v", h2DelKey, err)
	}
	return applied
}

// H3: length prefixes of 0xFFFFFFFF and of the limit plus one are refused
// at once from the header, before and after HELLO; and 1,000 connections
// each claiming a 1 GiB frame raise the daemon's RSS by less than 32 MiB.
func TestH3HugeLengthPrefix(t *testing.T) {
	c := systest.Start(t, systest.Options{})
	lim := protocol.DefaultLimits()
	cases := []struct {
		name   string
		hello  bool
		length uint32
	}{
		{"0xFFFFFFFF before HELLO", false, 0xFFFFFFFF},
		{"pre-auth limit+1 before HELLO", false, uint32(lim.MaxPreAuthFrameSize - protocol.HeaderSize + 1)},
		{"0xFFFFFFFF after HELLO", true, 0xFFFFFFFF},
		{"frame limit+1 after HELLO", true, uint32(lim.MaxFrameSize - protocol.HeaderSize + 1)},
	}
	for _, tc := range cases {
		op := protocol.OpPut
		if !tc.hello {
			op = protocol.OpHello
		}
		start := time.Now()
		a := send(t, c.Addr(), tc.hello, hugeHeader(op, tc.length))
		if !a.refused() || (!a.Closed && a.Status != protocol.StatusTooLarge) {
			t.Errorf("%s: daemon answered %v, want TOO_LARGE or a close", tc.name, a)
		}
		t.Logf("%s: %v in %v", tc.name, a, time.Since(start))
	}
	growth, peak := h3Flood(t, c, 1000)
	if growth >= 32<<20 {
		t.Errorf("1,000 connections claiming 1 GiB grew the daemon by %d MiB; want < 32 MiB", growth>>20)
	}
	canary(t, c, 1)
	summary(t, "huge_prefix_cases=%d flood_conns=1000 rss_growth_mib=%.1f peak_rss_mib=%.1f", len(cases), float64(growth)/(1<<20), float64(peak)/(1<<20))
}

func hugeHeader(op protocol.Opcode, length uint32) []byte {
	return protocol.AppendHeader(nil, protocol.Header{Length: length, Op: op, ID: 1})
}

// floodBody is what each flooding connection sends after its header, to
// tempt the daemon into buffering toward the claimed size.
const floodBody = 16 << 10

// h3Flood opens n connections that each complete HELLO, claim a 1 GiB
// frame and send floodBody bytes of it, and samples the daemon's RSS
// meanwhile. It returns the peak growth over the baseline and the peak.
func h3Flood(t *testing.T, c *systest.Cluster, n int) (growth, peak int64) {
	t.Helper()
	base, err := c.Daemon.RSS()
	if err != nil {
		t.Fatalf("cannot read RSS: %v", err)
	}
	stop := make(chan struct{})
	var peakRSS atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if r, err := c.Daemon.RSS(); err == nil && r > peakRSS.Load() {
				peakRSS.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	conns := make([]net.Conn, 0, n)
	msg := append(hugeHeader(protocol.OpPut, 1<<30), make([]byte, floodBody)...)
	for i := range n {
		nc, err := systest.DialRaw(c.Addr(), true)
		if err != nil {
			t.Errorf("flood connection %d: %v", i, err)
			break
		}
		conns = append(conns, nc)
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write(msg) // may fail: the daemon may close before the body
	}
	refused := 0
	for _, nc := range conns {
		if react(nc).refused() {
			refused++
		}
		nc.Close()
	}
	close(stop)
	wg.Wait()
	if refused != len(conns) {
		t.Errorf("only %d of %d connections claiming 1 GiB were refused within %v", refused, len(conns), refuseWithin)
	}
	return peakRSS.Load() - base, peakRSS.Load()
}
