package reliability_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/distridata/distridata/internal/systest"
)

// F1: SIGKILL one node mid-load, restart it 2 s later on the same data
// directory and port. With W=2 of N=3 a single replica down costs nothing:
// no acknowledged write is lost, at least 95% of the operations issued
// while it is down succeed, the register history stays linearizable, and
// after the restart the replicas of keys written meanwhile converge (read
// repair on an R=3 read).
func TestF1NodeKill(t *testing.T) {
	seed := seedFor(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	c := systest.Start(t, systest.Options{})
	victim := c.Nodes[rng.IntN(len(c.Nodes))]
	var killAt, restartAt int64
	res := load{Addr: c.Addr(), Seed: seed, Duration: 6 * time.Second, MaxOps: 15000}.run(t, func(h *systest.History) {
		time.Sleep(1500 * time.Millisecond)
		c.Kill(victim)
		killAt = h.Mark("kill node " + victim.ID)
		restartAt = sleepMark(h, 2*time.Second, "restart node "+victim.ID)
		c.Restart(victim)
	})
	all := systest.Count(res.H.Ops(), 0, systest.Infinity)
	down := systest.Count(res.H.Ops(), killAt, restartAt)
	if down.Ops == 0 {
		t.Fatalf("no operation was issued while node %s was down: the fault missed the traffic", victim.ID)
	}
	if s := down.Succeeded(); s < 0.95 {
		t.Errorf("only %.1f%% of ops succeeded with one replica down (%v); want ≥ 95%%", 100*s, down)
	}
	v := check(t, c, res)
	diverged, checked := converge(t, c, res.Set, victim, killAt, restartAt)
	if diverged > 0 {
		t.Errorf("%d of %d keys written while node %s was down still differ across replicas after an R=3 read", diverged, checked, victim.ID)
	}
	summary(t, "seed=%d victim=%s %v down[%v] succeeded_down=%.3f %v %v converge_checked=%d diverged=%d faults=1",
		seed, victim.ID, all, down, down.Succeeded(), v.Set, v.Reg, checked, diverged)
}

// convergeSample bounds how many keys the convergence check reads at
// every owner: each costs a few direct connections.
const convergeSample = 200

// converge reads (R=3) the acknowledged keys victim owns that were written
// while it was down, then compares their versions at every owner. It
// returns how many of them still diverge, and how many it checked.
func converge(t *testing.T, c *systest.Cluster, ops []systest.Op, victim *systest.Node, from, to int64) (diverged, checked int) {
	t.Helper()
	var keys []string
	for _, op := range ops {
		if op.Outcome != systest.OK || op.Call < from || op.Call >= to || !owns(c, victim, op.Key) {
			continue
		}
		if keys = append(keys, op.Key); len(keys) == convergeSample {
			break
		}
	}
	read := c.ReadAll(keys, 3)
	for _, k := range keys {
		if _, found, err := read(k); err != nil || !found {
			t.Errorf("R=3 read of %s: found=%v err=%v", k, found, err)
			continue
		}
		d, vs, err := c.Divergent(k)
		if err != nil {
			t.Errorf("cannot read %s at its owners: %v", k, err)
			continue
		}
		if d {
			diverged++
			t.Logf("diverged: %s versions %v", k, vs)
		}
	}
	return diverged, len(keys)
}

func owns(c *systest.Cluster, n *systest.Node, key string) bool {
	for _, o := range c.Owners([]byte(key)) {
		if o == n {
			return true
		}
	}
	return false
}
