package reliability_test

import (
	"testing"
	"time"

	"github.com/distridata/distridata/internal/systest"
)

// F12: 60 s of load under a seeded random mix of faults, one node faulty
// at a time (N−W = 1): SIGKILL and restart, SIGSTOP and SIGCONT, latency,
// connection resets, black hole. No acknowledged write is lost and the
// register history is linearizable.
func TestF12RandomMix(t *testing.T) {
	needFull(t)
	seed := seedFor(t)
	rng := newRand(seed)
	c := systest.Start(t, systest.Options{})
	const dur = 60 * time.Second
	faults := 0
	res := load{Addr: c.Addr(), Seed: seed, Duration: dur, MaxOps: 60000, Workers: 4}.run(t, func(h *systest.History) {
		end := time.Now().Add(dur - 4*time.Second)
		for time.Now().Before(end) {
			n := c.Nodes[rng.IntN(len(c.Nodes))]
			hold := time.Duration(500+rng.IntN(2500)) * time.Millisecond
			time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
			faults++
			switch rng.IntN(5) {
			case 0:
				c.Kill(n)
				h.Mark("kill " + n.ID)
				time.Sleep(hold)
				c.Restart(n)
			case 1:
				c.Pause(n)
				h.Mark("pause " + n.ID)
				time.Sleep(hold)
				c.Resume(n)
			case 2:
				n.Proxy.Add(t, systest.Latency(systest.Downstream, 200, 100))
				h.Mark("latency " + n.ID)
				time.Sleep(hold)
				n.Proxy.Clear()
			case 3:
				n.Proxy.Add(t, systest.ResetPeer(systest.Upstream, 0))
				h.Mark("reset " + n.ID)
				time.Sleep(hold / 4)
				n.Proxy.Clear()
			case 4:
				n.Proxy.Add(t, systest.BlackHole(systest.Upstream))
				n.Proxy.Add(t, systest.BlackHole(systest.Downstream))
				h.Mark("black hole " + n.ID)
				time.Sleep(hold)
				n.Proxy.Clear()
			}
			h.Mark("heal " + n.ID)
		}
	})
	v := check(t, c, res)
	summary(t, "seed=%d faults=%d %v %v %v", seed, faults, systest.Count(res.H.Ops(), 0, systest.Infinity), v.Set, v.Reg)
}
