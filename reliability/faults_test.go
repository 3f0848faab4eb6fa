package reliability_test

import (
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/internal/systest"
	"github.com/distridata/distridata/protocol"
)

// F2: two of a key's three owners SIGKILLed. With W=2 no write to such a
// key may be answered OK (one replica cannot make a quorum); once both
// return, no acknowledged write is lost and the histories stay
// linearizable.
func TestF2TwoOwnersDown(t *testing.T) {
	needFull(t)
	seed := seedFor(t)
	c := systest.Start(t, systest.Options{})
	victims := pick(c, seed, 2)
	doomed := keysOwnedBy(c, "f2", 40, victims...)
	conn := c.Dial(c.Addr())
	var probes []systest.Op
	var killAt, restartAt int64
	res := load{Addr: c.Addr(), Seed: seed, Duration: 7 * time.Second, MaxOps: 15000}.run(t, func(h *systest.History) {
		time.Sleep(1500 * time.Millisecond)
		c.Kill(victims[0])
		c.Kill(victims[1])
		killAt = h.Mark("kill nodes " + victims[0].ID + "," + victims[1].ID)
		time.Sleep(300 * time.Millisecond) // let the daemon see both links drop
		probes = probe(conn, h, doomed, 0, 500*time.Millisecond)
		restartAt = sleepMark(h, 2*time.Second, "restart both")
		c.Restart(victims[0])
		c.Restart(victims[1])
	})
	bad := 0
	for _, op := range probes {
		if op.Outcome == systest.OK {
			bad++
			t.Errorf("write to %s answered OK with two of its owners down", op.Key)
		}
	}
	// The workload's writes to keys the two victims both own, issued
	// once the daemon could know, are held to the same rule.
	for _, op := range res.Set {
		if op.Call > killAt+int64(500*time.Millisecond) && op.Call < restartAt && op.Outcome == systest.OK &&
			owns(c, victims[0], op.Key) && owns(c, victims[1], op.Key) {
			bad++
			t.Errorf("workload write to %s answered OK with two of its owners down", op.Key)
		}
	}
	v := check(t, c, res)
	summary(t, "seed=%d victims=%s,%s probes=%d probe_outcomes=%v ok_without_quorum=%d %v %v %v faults=2",
		seed, victims[0].ID, victims[1].ID, len(probes), outcomes(probes), bad,
		systest.Count(res.H.Ops(), 0, systest.Infinity), v.Set, v.Reg)
}

// f3Probes is how many W=2 writes F3 times with the slow owner. With
// 100 the p99 was the slowest one, so a single slow fsync on one of the
// two fast owners (W=2 then needs the slow one) failed the test; with 300
// the p99 tolerates two such, and code that waits for the slow owner
// still fails it at once (every probe then takes ≥ 200 ms).
const f3Probes = 300

// F3: one node slow (300 ± 100 ms each way). W=2 writes to the keys it
// owns complete at the speed of the two fast owners, and nothing is lost.
func TestF3SlowNode(t *testing.T) {
	needFull(t)
	seed := seedFor(t)
	c := systest.Start(t, systest.Options{})
	slow := pick(c, seed, 1)[0]
	keys := keysOwnedBy(c, "f3", f3Probes, slow)
	conn := c.Dial(c.Addr())
	var probes, base []systest.Op
	res := load{Addr: c.Addr(), Seed: seed, Duration: 10 * time.Second, MaxOps: 15000}.run(t, func(h *systest.History) {
		time.Sleep(500 * time.Millisecond)
		base = probe(conn, h, keysOwnedBy(c, "f3base", 100, slow), 2, 2*time.Second)
		slow.Proxy.Add(t, systest.Latency(systest.Downstream, 300, 100))
		h.Mark("slow node " + slow.ID)
		probes = probe(conn, h, keys, 2, 2*time.Second)
		slow.Proxy.Clear()
		h.Mark("heal")
	})
	p50, p99 := percentile(probes, 0.5), percentile(probes, 0.99)
	slowProbes := 0
	for _, op := range probes {
		if op.Took > 200*time.Millisecond {
			if slowProbes++; slowProbes <= 10 {
				t.Logf("slow probe: %s took %v (%v)", op.Key, op.Took, op.Outcome)
			}
		}
	}
	t.Logf("baseline before the fault: p50 %v p99 %v max %v", percentile(base, 0.5), percentile(base, 0.99), systest.MaxTook(base))
	if o := outcomes(probes); o[systest.OK] != len(probes) {
		t.Errorf("W=2 writes with one slow owner: %v; want all OK", o)
	}
	if p99 >= 200*time.Millisecond {
		t.Errorf("W=2 writes wait for the slow owner: p50 %v p99 %v; want p99 < 200ms (the slow one takes ≥ 200ms)", p50, p99)
	}
	v := check(t, c, res)
	summary(t, "seed=%d slow=%s probes=%d probe_p50=%v probe_p99=%v over_200ms=%d %v %v %v faults=1",
		seed, slow.ID, len(probes), p50, p99, slowProbes, systest.Count(res.H.Ops(), 0, systest.Infinity), v.Set, v.Reg)
}

// F4: one node black-holed (its proxy swallows every byte, both ways,
// and never closes). W=3 writes to its keys end within their deadline as
// unknown and never hang; the daemon marks the node down; after the heal
// the node serves W=3 writes again within 2 s.
func TestF4BlackHole(t *testing.T) {
	needFull(t)
	seed := seedFor(t)
	c := systest.Start(t, systest.Options{})
	hole := pick(c, seed, 1)[0]
	keys := keysOwnedBy(c, "f4", 30, hole)
	conn := c.Dial(c.Addr())
	const deadline = 500 * time.Millisecond
	var probes []systest.Op
	var reconnect time.Duration
	downBefore := c.Daemon.LogCount("node marked down", "node="+hole.ID)
	res := load{Addr: c.Addr(), Seed: seed, Duration: 8 * time.Second, MaxOps: 15000}.run(t, func(h *systest.History) {
		time.Sleep(time.Second)
		up := hole.Proxy.Add(t, systest.BlackHole(systest.Upstream))
		down := hole.Proxy.Add(t, systest.BlackHole(systest.Downstream))
		h.Mark("black hole node " + hole.ID)
		probes = probe(conn, h, keys, 3, deadline)
		time.Sleep(time.Second)
		hole.Proxy.Remove(t, up)
		hole.Proxy.Remove(t, down)
		h.Mark("heal")
		reconnect = untilW3(conn, h, keys[0], 10*time.Second)
	})
	for _, op := range probes {
		if op.Outcome == systest.OK {
			t.Errorf("W=3 write to %s answered OK while an owner was black-holed", op.Key)
		}
	}
	if late := systest.MaxTook(probes); late > deadline+500*time.Millisecond {
		t.Errorf("a W=3 write took %v with a %v deadline: requests must end within their deadline", late, deadline)
	}
	if n := c.Daemon.LogCount("node marked down", "node="+hole.ID) - downBefore; n == 0 {
		t.Errorf("the daemon never marked node %s down", hole.ID)
	}
	if reconnect > 2*time.Second {
		t.Errorf("node %s took %v after the heal to serve W=3 writes again; want ≤ 2s", hole.ID, reconnect)
	}
	v := check(t, c, res)
	summary(t, "seed=%d hole=%s probes=%d probe_outcomes=%v probe_max=%v reconnect=%v %v %v %v faults=1",
		seed, hole.ID, len(probes), outcomes(probes), systest.MaxTook(probes), reconnect,
		systest.Count(res.H.Ops(), 0, systest.Infinity), v.Set, v.Reg)
}

// untilW3 writes key with W=3 until it succeeds, and returns how long
// that took (limit if it never did).
func untilW3(conn *client.Conn, h *systest.History, key string, limit time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < limit {
		ops := probe(conn, h, []string{key}, 3, 300*time.Millisecond)
		if ops[0].Outcome == systest.OK {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return limit
}

// F7: the daemon SIGKILLed mid-load and restarted (on a new port; the
// clients reach it through the front proxy, which follows it). The
// clients reconnect; no acknowledged write is lost; and versions never go
// backwards: every write acknowledged after the restart carries a version
// newer than every write acknowledged before the kill (the restarted
// daemon seeds its clock from the nodes).
func TestF7DaemonKill(t *testing.T) {
	needFull(t)
	seed := seedFor(t)
	c := systest.Start(t, systest.Options{})
	var killAt, restartAt int64
	res := load{Addr: c.Front.Addr(), Seed: seed, Duration: 7 * time.Second, MaxOps: 15000}.run(t, func(h *systest.History) {
		time.Sleep(2 * time.Second)
		c.KillDaemon()
		killAt = h.Mark("kill daemon")
		time.Sleep(time.Second)
		c.RestartDaemon()
		restartAt = h.Mark("daemon restarted")
	})
	var before, after protocol.Version
	var afterN int
	for _, op := range res.H.Ops() {
		if op.Kind == systest.Get || op.Outcome != systest.OK {
			continue
		}
		switch {
		case op.Return < killAt && op.Version.Newer(before):
			before = op.Version
		case op.Call > restartAt:
			afterN++
			if after.IsZero() || after.Newer(op.Version) {
				after = op.Version
			}
		}
	}
	if afterN == 0 {
		t.Fatalf("no write was acknowledged after the daemon restarted")
	}
	if !after.Newer(before) {
		t.Errorf("versions went backwards across the daemon restart: oldest after %v is not newer than newest before %v", after, before)
	}
	v := check(t, c, res)
	summary(t, "seed=%d %v writes_after_restart=%d newest_before=%v oldest_after=%v redials=%d %v %v faults=1",
		seed, systest.Count(res.H.Ops(), 0, systest.Infinity), afterN, before, after,
		res.Stats[0].Redials+res.Stats[1].Redials, v.Set, v.Reg)
}

// F11: a node SIGSTOPped for 3 s, then SIGCONTed, mid-load. Its replies
// to requests the daemon already gave up on arrive late and must be
// discarded; no older write may overwrite a newer one (the register
// history stays linearizable and the set is intact).
func TestF11NodePause(t *testing.T) {
	needFull(t)
	seed := seedFor(t)
	c := systest.Start(t, systest.Options{})
	frozen := pick(c, seed, 1)[0]
	var stopAt, contAt int64
	res := load{Addr: c.Addr(), Seed: seed, Duration: 8 * time.Second, MaxOps: 15000}.run(t, func(h *systest.History) {
		time.Sleep(1500 * time.Millisecond)
		c.Pause(frozen)
		stopAt = h.Mark("SIGSTOP node " + frozen.ID)
		time.Sleep(3 * time.Second)
		c.Resume(frozen)
		contAt = h.Mark("SIGCONT node " + frozen.ID)
	})
	paused := systest.Count(res.H.Ops(), stopAt, contAt)
	v := check(t, c, res)
	diverged, checked := converge(t, c, res.Set, frozen, stopAt, contAt)
	if diverged > 0 {
		t.Errorf("%d of %d keys written while node %s was paused differ across replicas after an R=3 read", diverged, checked, frozen.ID)
	}
	summary(t, "seed=%d frozen=%s %v paused[%v] succeeded_paused=%.3f %v %v converge_checked=%d diverged=%d faults=1",
		seed, frozen.ID, systest.Count(res.H.Ops(), 0, systest.Infinity), paused, paused.Succeeded(), v.Set, v.Reg, checked, diverged)
}
