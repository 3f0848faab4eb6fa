package link

import (
	"context"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

func TestSweepAt(t *testing.T) {
	now := time.Unix(1000, 0)
	ms := func(n int) time.Time { return now.Add(time.Duration(n) * time.Millisecond) }
	for _, tc := range []struct {
		name     string
		last     time.Time
		earliest int64
		want     time.Time
	}{
		{"no deadline", ms(-20), noDeadline, ms(10)},
		{"deadline in 5ms", ms(-20), ms(5).UnixNano(), ms(5)},
		{"deadline in 20ms", ms(-20), ms(20).UnixNano(), ms(10)},
		{"deadline passed, swept long ago", ms(-20), ms(-3).UnixNano(), ms(-3)},
		{"deadline passed, swept just now", now, ms(-3).UnixNano(), ms(1)},
		{"deadline within the gap", ms(-1).Add(time.Microsecond * 500), ms(0).UnixNano(), ms(0).Add(500 * time.Microsecond)},
	} {
		if got := sweepAt(now, tc.last, tc.earliest); !got.Equal(tc.want) {
			t.Errorf("%s: sweep at %v, want %v", tc.name, got.Sub(now), tc.want.Sub(now))
		}
	}
}

// deadlineOnly has a deadline but never ends, so the request stays
// pending and the sweeper's plan can be read at leisure.
type deadlineOnly struct {
	context.Context
	d time.Time
}

func (c deadlineOnly) Deadline() (time.Time, bool) { return c.d, true }

// TestSweeperPlansAtEarliestDeadline: with a request due in 5 ms pending
// at a stalled node, the sweeper plans its next sweep for that deadline
// (it swept every 10 ms before, answering TIMEOUT up to 10 ms late). The
// sweeper's clock is frozen, so the plan does not move while we look.
func TestSweeperPlansAtEarliestDeadline(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	p, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	p.now = func() time.Time { return t0 }
	t.Cleanup(func() { p.Close() })
	p.SetNodes(map[string]string{"n1": f.addr})
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get("warm")))
	f.setMode(modeDrop)

	due := t0.Add(5 * time.Millisecond)
	n := (*p.nodes.Load())["n1"]
	ch := make(chan replica.Reply, 2)
	p.Send(deadlineOnly{context.Background(), due.Add(time.Second)}, "n1", protocol.ReplicaHeader{}, []protocol.Item{get("later")}, func(r replica.Reply) { ch <- r })
	waitFor(t, 5*time.Second, "a sweep planned at the later deadline", func() bool { return n.nextSweep.Load() == t0.Add(sweepInterval).UnixNano() })
	p.Send(deadlineOnly{context.Background(), due}, "n1", protocol.ReplicaHeader{}, []protocol.Item{get("k")}, func(r replica.Reply) { ch <- r })
	waitFor(t, 5*time.Second, "a sweep planned at the deadline", func() bool { return n.nextSweep.Load() == due.UnixNano() })
	p.Close()
	collect(t, ch, 2)
}

// TestNoteDeadlineWakesSweeper: a deadline before the sweeper's planned
// wake lowers earliest and wakes it; a later one changes nothing.
func TestNoteDeadlineWakesSweeper(t *testing.T) {
	n := &node{sweepKick: make(chan struct{}, 1)}
	n.earliest.Store(noDeadline)
	n.nextSweep.Store(100)
	kicked := func() bool {
		select {
		case <-n.sweepKick:
			return true
		default:
			return false
		}
	}
	for _, tc := range []struct {
		d            int64
		earliest     int64
		wantKick     bool
		nextSweepNow int64
	}{
		{0, noDeadline, false, 100}, // no deadline
		{150, 150, false, 100},      // after the planned wake
		{90, 90, true, 100},         // before it
		{95, 90, false, 100},        // not the earliest
		{80, 80, true, noDeadline},  // idle: it will plan with this deadline
	} {
		n.nextSweep.Store(tc.nextSweepNow)
		n.noteDeadline(tc.d)
		if got := n.earliest.Load(); got != tc.earliest {
			t.Errorf("deadline %d: earliest %d, want %d", tc.d, got, tc.earliest)
		}
		if got := kicked(); got != tc.wantKick {
			t.Errorf("deadline %d: woke the sweeper %v, want %v", tc.d, got, tc.wantKick)
		}
	}
}
