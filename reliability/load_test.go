package reliability_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/internal/systest"
)

// load is one mixed run: a set workload and a register workload at once,
// with a fault schedule running beside them.
type load struct {
	Addr     string
	Seed     uint64
	Duration time.Duration
	MaxOps   int           // per workload
	Workers  int           // per workload; 0 means 6
	Timeout  time.Duration // per op; 0 means 1 s
	Quorum   int
}

// result is what a load run recorded.
type result struct {
	H        *systest.History
	Set, Reg []systest.Op
	Stats    [2]systest.Stats
}

// run drives both workloads and schedule (which gets the history to mark
// its faults, and must return by itself) and waits for all three.
func (l load) run(t *testing.T, schedule func(h *systest.History)) result {
	t.Helper()
	if l.Workers == 0 {
		l.Workers = 6
	}
	h := systest.NewHistory()
	var res result
	var wg sync.WaitGroup
	for i, mix := range []systest.Mix{systest.SetMix, systest.RegisterMix} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := systest.Workload{Addr: l.Addr, Mix: mix, Seed: l.Seed + uint64(i), Workers: l.Workers,
				MaxOps: l.MaxOps, Duration: l.Duration, OpTimeout: l.Timeout, Quorum: l.Quorum}
			res.Stats[i] = w.Run(context.Background(), h)
		}()
	}
	if schedule != nil {
		wg.Add(1)
		go func() { defer wg.Done(); schedule(h) }()
	}
	wg.Wait()
	res.H = h
	for _, op := range h.Ops() {
		if strings.HasPrefix(op.Key, "set/") {
			res.Set = append(res.Set, op)
		} else {
			res.Reg = append(res.Reg, op)
		}
	}
	return res
}

// sleepMark sleeps d then marks what: fault schedules read as a script.
func sleepMark(h *systest.History, d time.Duration, what string) int64 {
	time.Sleep(d)
	return h.Mark(what)
}

// verdict is a run's checked figures.
type verdict struct {
	Set systest.SetReport
	Reg systest.RegisterVerdict
}

// porcupineTimeout bounds the linearizability check of one run; a check
// that runs out says Unknown, reported as such, never as a pass.
const porcupineTimeout = 60 * time.Second

// check runs both checkers (reading back through the daemon) and fails
// t on a lost write, a corrupt value, a non-linearizable history, or a
// client error outside the outcome classes.
func check(t *testing.T, c *systest.Cluster, res result) verdict {
	t.Helper()
	return checkAt(t, c.Addr(), res)
}

// checkAt is check against the daemon at addr, for any cluster.
func checkAt(t *testing.T, addr string, res result) verdict {
	t.Helper()
	var keys []string
	for _, op := range res.Set {
		keys = append(keys, op.Key)
	}
	v := verdict{
		Set: systest.CheckSet(res.Set, systest.ReadAllAt(addr, keys, 0)),
		Reg: systest.CheckRegister(res.Reg, porcupineTimeout, t.TempDir()),
	}
	if !v.Set.OK() {
		t.Errorf("set workload: %v", v.Set)
	}
	switch v.Reg.Result {
	case "Ok":
	case "Unknown":
		t.Logf("register workload: porcupine timed out (inconclusive, not a pass): %v", v.Reg)
	default:
		t.Errorf("register workload not linearizable: %v", v.Reg)
	}
	for i, st := range res.Stats {
		if st.Unclassified > 0 || st.Mismatched > 0 {
			t.Errorf("workload %d: %d errors outside the outcome classes, %d replies carrying another key's value",
				i, st.Unclassified, st.Mismatched)
		}
	}
	return v
}
