package protocol

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeWall is a settable wall clock for skew tests.
type fakeWall struct{ ms atomic.Int64 }

func (w *fakeWall) now() time.Time      { return time.UnixMilli(w.ms.Load()) }
func (w *fakeWall) set(t time.Time)     { w.ms.Store(t.UnixMilli()) }
func (w *fakeWall) add(d time.Duration) { w.ms.Add(d.Milliseconds()) }

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestClockLogicalCounter(t *testing.T) {
	var w fakeWall
	w.set(t0)
	c := NewClock(w.now)
	base := uint64(t0.UnixMilli()) << LogicalBits
	for i := range uint64(5) {
		if got := c.Now(); got != base+i {
			t.Fatalf("call %d in one ms: %#x, want %#x", i, got, base+i)
		}
	}
	w.add(time.Millisecond)
	if got := c.Now(); got != base+1<<LogicalBits {
		t.Fatalf("next ms: %#x, want the wall time with logical 0", got)
	}
}

func TestClockMonotonicWhenWallJumpsBack(t *testing.T) {
	var w fakeWall
	w.set(t0)
	c := NewClock(w.now)
	prev := c.Now()
	w.add(-time.Hour)
	for i := range 1000 {
		ts := c.Now()
		if ts <= prev {
			t.Fatalf("call %d after a 1 h backward jump: %#x <= %#x", i, ts, prev)
		}
		// It keeps to the old wall time plus logical ticks, not the
		// rewound wall clock.
		if (Version{TS: ts}).WallTime().Before(t0) {
			t.Fatalf("timestamp followed the wall clock back to %v", Version{TS: ts}.WallTime())
		}
		prev = ts
		if i%100 == 0 {
			w.add(time.Minute) // still behind the high-water mark
		}
	}
	// Once the wall clock passes the high-water mark, it leads again.
	w.set(t0.Add(time.Hour))
	if got := (Version{TS: c.Now()}).WallTime(); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("wall part %v after the wall clock caught up, want %v", got, t0.Add(time.Hour))
	}
}

func TestClockObserve(t *testing.T) {
	var w fakeWall
	w.set(t0)
	c := NewClock(w.now)
	peer := uint64(t0.Add(10*time.Second).UnixMilli())<<LogicalBits | 77
	c.Observe(peer)
	if c.Last() != peer {
		t.Fatalf("Last %#x after Observe(%#x)", c.Last(), peer)
	}
	if got := c.Now(); got != peer+1 {
		t.Fatalf("Now after observing a clock 10 s ahead: %#x, want %#x", got, peer+1)
	}
	c.Observe(peer - 5) // an older stamp changes nothing
	if got := c.Now(); got != peer+2 {
		t.Fatalf("Now after observing an older stamp: %#x, want %#x", got, peer+2)
	}
}

// TestClockConcurrentUnique runs Now on several goroutines against a frozen
// wall clock (the hardest case: every stamp comes from the logical counter)
// and checks that no stamp repeats and each goroutine sees them increase.
func TestClockConcurrentUnique(t *testing.T) {
	var w fakeWall
	w.set(t0)
	c := NewClock(w.now)
	const goroutines, perG = 4, 5000
	out := make([][]uint64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			s := make([]uint64, perG)
			for i := range s {
				s[i] = c.Now()
				if g == 0 && i%1000 == 0 {
					c.Observe(s[i] + 3) // merges race with Now too
				}
			}
			out[g] = s
		})
	}
	wg.Wait()
	seen := make(map[uint64]bool, goroutines*perG)
	for g, s := range out {
		for i, ts := range s {
			if seen[ts] {
				t.Fatalf("timestamp %#x issued twice", ts)
			}
			seen[ts] = true
			if i > 0 && ts <= s[i-1] {
				t.Fatalf("goroutine %d: %#x after %#x", g, ts, s[i-1])
			}
		}
	}
}

func TestClockDefaults(t *testing.T) {
	for name, c := range map[string]*Clock{"NewClock(nil)": NewClock(nil), "zero value": new(Clock)} {
		before := time.Now().Add(-time.Millisecond)
		got := Version{TS: c.Now()}.WallTime()
		if got.Before(before) || got.After(time.Now().Add(time.Millisecond)) {
			t.Errorf("%s: wall part %v is not time.Now", name, got)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	a := Version{TS: 10, Origin: 5}
	tests := []struct {
		name string
		v, w Version
		want int
	}{
		{"equal", a, a, 0},
		{"older ts", Version{TS: 9, Origin: 99}, a, -1},
		{"newer ts", Version{TS: 11}, a, 1},
		{"same ts lower origin", Version{TS: 10, Origin: 4}, a, -1},
		{"same ts higher origin", Version{TS: 10, Origin: 6}, a, 1},
		{"zero vs any", Version{}, Version{Origin: 1}, -1},
		{"max", Version{TS: ^uint64(0), Origin: ^uint32(0)}, a, 1},
	}
	for _, tc := range tests {
		if got := tc.v.Compare(tc.w); got != tc.want {
			t.Errorf("%s: Compare = %d, want %d", tc.name, got, tc.want)
		}
		if got := tc.w.Compare(tc.v); got != -tc.want {
			t.Errorf("%s: reversed Compare = %d, want %d", tc.name, got, -tc.want)
		}
		if tc.v.Newer(tc.w) != (tc.want > 0) {
			t.Errorf("%s: Newer = %v", tc.name, tc.v.Newer(tc.w))
		}
	}
	if !(Version{}).IsZero() || a.IsZero() || (Version{Origin: 1}).IsZero() {
		t.Error("IsZero")
	}
	if got := (Version{TS: uint64(t0.UnixMilli())<<LogicalBits | 0xFFFF}).WallTime(); !got.Equal(t0) {
		t.Errorf("WallTime %v, want %v (logical bits ignored)", got, t0)
	}
}

// TestClockLead: zero while the wall clock drives the clock; the gap
// after a backward wall jump or a peer from the future; zero again once
// the wall clock has caught up.
func TestClockLead(t *testing.T) {
	tests := []struct {
		name string
		step func(c *Clock, w *fakeWall)
		want time.Duration
	}{
		{"wall drives", func(c *Clock, w *fakeWall) { c.Now() }, 0},
		{"wall back 1h", func(c *Clock, w *fakeWall) { c.Now(); w.add(-time.Hour); c.Now() }, time.Hour},
		{"peer 10m ahead", func(c *Clock, w *fakeWall) {
			c.Observe(uint64(t0.Add(10*time.Minute).UnixMilli()) << LogicalBits)
		}, 10 * time.Minute},
		{"wall caught up", func(c *Clock, w *fakeWall) {
			c.Observe(uint64(t0.Add(time.Minute).UnixMilli()) << LogicalBits)
			w.add(2 * time.Minute)
		}, 0},
	}
	for _, tc := range tests {
		var w fakeWall
		w.set(t0)
		c := NewClock(w.now)
		tc.step(c, &w)
		if got := c.Lead(); got != tc.want {
			t.Errorf("%s: Lead %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestClockForwardThenBack is F10 in miniature: the wall clock jumps 10
// minutes ahead, then back to where it was. Stamps keep increasing
// through both jumps: the second jump is absorbed by the logical counter.
func TestClockForwardThenBack(t *testing.T) {
	var w fakeWall
	w.set(t0)
	c := NewClock(w.now)
	prev := c.Now()
	for i, d := range []time.Duration{10 * time.Minute, -10 * time.Minute, -time.Hour} {
		w.add(d)
		for range 100 {
			ts := c.Now()
			if ts <= prev {
				t.Fatalf("jump %d (%v): %#x <= %#x", i, d, ts, prev)
			}
			prev = ts
		}
	}
}
