package reliability_test

import (
	"testing"
	"time"

	"github.com/distridata/distridata/internal/systest"
)

// TestCheckerSelfTest proves the checkers can fail on a real run: it takes
// a clean history recorded against a real cluster, then injects (1) an
// acknowledged write that never reached the cluster, which the set
// checker must report lost when it reads back through the daemon, and (2)
// a stale read into the register history, which porcupine must reject.
// The clean history must pass first, so neither verdict is vacuous.
func TestCheckerSelfTest(t *testing.T) {
	seed := seedFor(t)
	c := systest.Start(t, systest.Options{})
	res := load{Addr: c.Addr(), Seed: seed, Duration: time.Second, MaxOps: 1500, Workers: 4}.run(t, nil)
	clean := check(t, c, res)
	if clean.Set.Acked == 0 || clean.Reg.Ops == 0 {
		t.Fatalf("the clean run recorded nothing to check: %v %v", clean.Set, clean.Reg)
	}

	ghost := systest.Op{Kind: systest.Put, Key: "set/ghost", Value: systest.ValueFor("set/ghost", "never-sent", 0),
		Outcome: systest.OK, Call: 0, Return: 1}
	keys := []string{ghost.Key}
	for _, op := range res.Set {
		keys = append(keys, op.Key)
	}
	lost := systest.CheckSet(append(res.Set, ghost), c.ReadAll(keys, 0))
	if len(lost.Lost) != 1 || lost.Lost[0] != ghost.Key {
		t.Errorf("set checker missed an injected lost write: %v", lost)
	}

	stale, ok := staleRead(res.Reg, res.H.Now())
	if !ok {
		t.Fatalf("no key was overwritten in the register run; cannot inject a stale read")
	}
	v := systest.CheckRegister(append(res.Reg, stale), porcupineTimeout, t.TempDir())
	if v.Result != "Illegal" {
		t.Errorf("porcupine accepted an injected stale read %+v: %v", stale, v)
	}
	summary(t, "seed=%d clean[%v %v] injected_lost_caught=%v injected_stale_caught=%v",
		seed, clean.Set, clean.Reg, len(lost.Lost) == 1, v.Result == "Illegal")
}

// staleRead builds a read, after the end of the history, that returns
// the first acknowledged value of a key that a later acknowledged PUT
// overwrote: linearizability forbids it.
func staleRead(ops []systest.Op, after int64) (systest.Op, bool) {
	first := map[string]systest.Op{}
	for _, op := range ops {
		if op.Kind != systest.Put || op.Outcome != systest.OK {
			continue
		}
		f, seen := first[op.Key]
		if !seen {
			first[op.Key] = op
			continue
		}
		// Strictly after: f is overwritten for good, since values are unique.
		if op.Call > f.Return {
			return systest.Op{Worker: 99, Kind: systest.Get, Key: op.Key, Value: f.Value, Outcome: systest.OK,
				Call: after + 1, Return: after + 2}, true
		}
	}
	return systest.Op{}, false
}
