package reliability_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/internal/systest"
	"github.com/distridata/distridata/protocol"
)

// F10: the wall clock under the daemon's version clock (the faultclock
// build's skew file: Go reads the clock through the vDSO, so libfaketime
// cannot do it) jumps back 1 h, then forward to +10 min, then back to
// real time, mid-load. A write invoked after another write to the same key
// was acknowledged must still win: its version is newer (checked over
// every pair of the register history, and by probes across each jump), and
// the histories stay linearizable with nothing lost. The daemon's
// clock_lead_ms and a probe's version show that each jump reached the
// version clock, so the test cannot pass with the skew ignored.
func TestF10ClockSkew(t *testing.T) {
	needFull(t)
	seed := seedFor(t)
	c := systest.Start(t, systest.Options{})
	conn := c.Dial(c.Addr())
	var jumps []skewPhase
	res := load{Addr: c.Addr(), Seed: seed, Duration: 9 * time.Second, MaxOps: 15000}.run(t, func(h *systest.History) {
		time.Sleep(1500 * time.Millisecond)
		for _, d := range []time.Duration{-time.Hour, 10 * time.Minute, 0} {
			jumps = append(jumps, skewTo(c, conn, h, d))
			time.Sleep(2 * time.Second)
		}
	})
	checkJumps(t, jumps)
	later, pairs := laterWriteWins(t, res.Reg)
	v := check(t, c, res)
	summary(t, "seed=%d %v writes_after_ack=%d later_write_lost=%d jumps=%s %v %v faults=%d",
		seed, systest.Count(res.H.Ops(), 0, systest.Infinity), pairs, later, jumps, v.Set, v.Reg, len(jumps))
}

// skewPhase is what one clock jump looked like from outside.
type skewPhase struct {
	Skew     time.Duration
	Lead     time.Duration    // the daemon's clock_lead_ms once the skew applied
	Ahead    time.Duration    // a probe write's version wall time minus real time
	Before   protocol.Version // the probe key's version before the jump
	After    protocol.Version // its version written after the jump
	ReadBack string           // the value read back after the second write
	Want     string           // the value that write stored
	Err      error
}

func (p skewPhase) String() string {
	return fmt.Sprintf("[%v: lead=%v ahead=%v]", p.Skew, p.Lead.Round(time.Second), p.Ahead.Round(time.Second))
}

// f10Probe is the key written across every jump.
const f10Probe = "f10/probe"

// skewTo writes the probe key, moves the daemon's clock to skew d, writes
// it again and reads it back, and reads clock_lead_ms. It runs on the
// schedule goroutine, so it reports errors in the phase instead of
// failing t.
func skewTo(c *systest.Cluster, conn *client.Conn, h *systest.History, d time.Duration) skewPhase {
	ctx := context.Background()
	p := skewPhase{Skew: d}
	if p.Before, p.Err = conn.Put(ctx, []byte(f10Probe), []byte("before "+d.String())); p.Err != nil {
		return p
	}
	c.SkewDaemonClock(d)
	h.Mark(fmt.Sprintf("daemon clock skew %v", d))
	p.Want = "after " + d.String()
	if p.After, p.Err = conn.Put(ctx, []byte(f10Probe), []byte(p.Want)); p.Err != nil {
		return p
	}
	p.Ahead = time.Until(p.After.WallTime())
	var b []byte
	if b, _, p.Err = conn.Get(ctx, []byte(f10Probe)); p.Err != nil {
		return p
	}
	p.ReadBack = string(b)
	var text string
	if text, p.Err = conn.Stats(ctx); p.Err != nil {
		return p
	}
	p.Lead, p.Err = statLead(text)
	return p
}

// statLead parses clock_lead_ms from STATS text.
func statLead(text string) (time.Duration, error) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "clock_lead_ms "); ok {
			ms, err := strconv.ParseInt(v, 10, 64)
			return time.Duration(ms) * time.Millisecond, err
		}
	}
	return 0, fmt.Errorf("STATS has no clock_lead_ms")
}

// checkJumps holds each jump to what it must show. Back 1 h: the version
// clock ignores the wall clock (lead ≈ 1 h). Forward 10 min: versions
// follow it (≈ 10 min ahead of real time). Back to real time: the version
// clock stays ahead (lead ≈ 10 min) instead of going back. Across each,
// the second probe write wins over the first.
func checkJumps(t *testing.T, jumps []skewPhase) {
	t.Helper()
	const slack = time.Minute
	for _, p := range jumps {
		switch {
		case p.Err != nil:
			t.Errorf("skew %v: probe: %v", p.Skew, p.Err)
			continue
		case !p.After.Newer(p.Before):
			t.Errorf("skew %v: a write acknowledged after the jump has version %v, not newer than the one before, %v", p.Skew, p.After, p.Before)
		case p.ReadBack != p.Want:
			t.Errorf("skew %v: read back %q after writing %q: the later write lost", p.Skew, p.ReadBack, p.Want)
		}
	}
	if len(jumps) != 3 {
		t.Fatalf("want 3 jumps, got %d", len(jumps))
	}
	if back := jumps[0]; back.Lead < time.Hour-slack {
		t.Errorf("after the 1 h backward jump the daemon's clock lead is %v; want ≈ 1 h (did the skew reach the version clock?)", back.Lead)
	}
	if fwd := jumps[1]; fwd.Ahead < 10*time.Minute-slack || fwd.Ahead > 10*time.Minute+slack {
		t.Errorf("after the 10 min forward jump a write's version is %v ahead of real time; want ≈ 10 min", fwd.Ahead)
	}
	if ret := jumps[2]; ret.Lead < 10*time.Minute-slack || ret.Ahead < 10*time.Minute-slack {
		t.Errorf("after returning to real time: clock lead %v, version %v ahead; want both ≈ 10 min (the clock must not go back)", ret.Lead, ret.Ahead)
	}
}

// laterWriteWins checks, over the register history, every pair of
// acknowledged writes (PUT or DEL) to one key where the second was invoked
// after the first returned: the second's version must be newer. It
// returns the violations and the number of writes checked against an
// earlier one.
func laterWriteWins(t *testing.T, ops []systest.Op) (bad, checked int) {
	t.Helper()
	byKey := map[string][]systest.Op{}
	for _, op := range ops {
		if op.Kind != systest.Get && op.Outcome == systest.OK && !op.Version.IsZero() {
			byKey[op.Key] = append(byKey[op.Key], op)
		}
	}
	for key, writes := range byKey {
		byReturn := append([]systest.Op(nil), writes...)
		sort.Slice(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })
		sort.Slice(writes, func(i, j int) bool { return writes[i].Call < writes[j].Call })
		// Sweep by call time: newest is the newest version among the
		// writes that returned before this one was called.
		var newest systest.Op
		i := 0
		for _, w := range writes {
			for ; i < len(byReturn) && byReturn[i].Return < w.Call; i++ {
				if byReturn[i].Version.Newer(newest.Version) {
					newest = byReturn[i]
				}
			}
			if newest.Version.IsZero() {
				continue
			}
			checked++
			if !w.Version.Newer(newest.Version) {
				bad++
				if bad <= 5 {
					t.Errorf("key %s: %v called at %v got version %v, not newer than %v acknowledged at %v",
						key, w.Kind, time.Duration(w.Call), w.Version, newest.Version, time.Duration(newest.Return))
				}
			}
		}
	}
	if checked == 0 {
		t.Errorf("no acknowledged write followed another on its key: nothing was checked")
	}
	return bad, checked
}
