package bench

import (
	"testing"
	"time"
)

func TestOpenLoopHoldsTheRate(t *testing.T) {
	srv := &fakeServer{t: t}
	cfg := testConfig(srv.start(), TargetDistriData)
	cfg.Rate, cfg.Duration = 2000, time.Second
	res := run(t, cfg)
	// The count is exact (every scheduled request is sent); the rate is
	// ops over the time to the last reply, which a busy machine stretches
	// without bound, so only "never faster than asked" is checked.
	if res.Ops < 1990 || res.Ops > 2010 || res.OpsPerSec > 2200 {
		t.Errorf("asked 2000 req/s for 1 s, got %d ops at %.0f ops/s", res.Ops, res.OpsPerSec)
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors %v", res.Errors)
	}
	// How late sends are depends on the machine's load (timer slack under
	// -race on 2 busy cores is often over 1 ms), so check only the bookkeeping.
	if res.MaxSendLag <= 0 || res.LateSends > res.Ops {
		t.Errorf("max send lag %v, %d late sends of %d", res.MaxSendLag, res.LateSends, res.Ops)
	}
}

// A server that stalls once for 300 ms: a closed loop with one request in
// flight records one slow request; the open loop records every request
// whose intended time fell in the stall, measured from that time.
func TestOpenLoopMeasuresFromIntendedTime(t *testing.T) {
	stall := 300 * time.Millisecond
	for _, open := range []bool{false, true} {
		srv := &fakeServer{t: t, delayFirst: stall}
		cfg := testConfig(srv.start(), TargetDistriData)
		cfg.Conns, cfg.Duration = 1, time.Second
		if open {
			cfg.Rate = 1000
		}
		res := run(t, cfg)
		if res.Max < stall {
			t.Errorf("open=%v: max %v, want the %v stall", open, res.Max, stall)
		}
		switch {
		case open && res.P90 < 100*time.Millisecond:
			t.Errorf("open loop p90 %v: the stall's queue is missing (coordinated omission)", res.P90)
		case !open && res.P90 > 50*time.Millisecond:
			t.Errorf("closed loop p90 %v: expected one slow request only", res.P90)
		}
	}
}

func TestOpenLoopCountsUnsentWhenTheWindowIsFull(t *testing.T) {
	srv := &fakeServer{t: t, dropGets: true}
	cfg := testConfig(srv.start(), TargetDistriData)
	cfg.Conns, cfg.Rate, cfg.Duration, cfg.MaxInFlight = 1, 1000, 300*time.Millisecond, 4
	cfg.SetWeight, cfg.GetWeight = 0, 1
	res := run(t, cfg)
	if res.Errors[errNoReply] != 4 || res.Errors[errUnsent] < 250 || res.Errors[errUnsent] > 300 {
		t.Errorf("errors %v: want 4 NO_REPLY and ~296 UNSENT", res.Errors)
	}
}
