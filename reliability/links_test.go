package reliability_test

import (
	"testing"
	"time"

	"github.com/distridata/distridata/internal/systest"
)

// F5: connections reset mid-frame, on the client link (the front proxy)
// and on one node's backend link, three times during the load. Every
// request on a broken link ends with an error in its class, none hangs,
// and none receives another request's reply (every GET answer names its
// own key, and the register history stays linearizable).
func TestF5ConnectionResets(t *testing.T) {
	needFull(t)
	seed := seedFor(t)
	c := systest.Start(t, systest.Options{})
	node := pick(c, seed, 1)[0]
	const opTimeout = time.Second
	res := load{Addr: c.Front.Addr(), Seed: seed, Duration: 7 * time.Second, MaxOps: 15000, Timeout: opTimeout}.run(t, func(h *systest.History) {
		for range 3 {
			time.Sleep(1500 * time.Millisecond)
			front := c.Front.Add(t, systest.ResetPeer(systest.Downstream, 0))
			back := node.Proxy.Add(t, systest.ResetPeer(systest.Upstream, 0))
			h.Mark("reset client links and node " + node.ID + " links")
			time.Sleep(200 * time.Millisecond)
			c.Front.Remove(t, front)
			node.Proxy.Remove(t, back)
			h.Mark("heal")
		}
	})
	if late := systest.MaxTook(res.H.Ops()); late > opTimeout+time.Second {
		t.Errorf("a call took %v with a %v deadline: a broken link left it hanging", late, opTimeout)
	}
	v := check(t, c, res)
	summary(t, "seed=%d node=%s %v redials=%d mismatched=%d max_call=%v %v %v faults=6",
		seed, node.ID, systest.Count(res.H.Ops(), 0, systest.Infinity), res.Stats[0].Redials+res.Stats[1].Redials,
		res.Stats[0].Mismatched+res.Stats[1].Mismatched, systest.MaxTook(res.H.Ops()), v.Set, v.Reg)
}

// F6: every link fragmented into ~3-byte pieces, client side and every
// backend, both directions. Framing must reassemble them: zero errors.
func TestF6Fragmentation(t *testing.T) {
	needFull(t)
	seed := seedFor(t)
	c := systest.Start(t, systest.Options{})
	for _, p := range append([]*systest.Proxy{c.Front}, proxies(c)...) {
		p.Add(t, systest.Slicer(systest.Upstream, 3, 2, 0))
		p.Add(t, systest.Slicer(systest.Downstream, 3, 2, 0))
	}
	res := load{Addr: c.Front.Addr(), Seed: seed, Duration: 5 * time.Second, MaxOps: 5000, Workers: 4,
		Timeout: 3 * time.Second}.run(t, nil)
	all := systest.Count(res.H.Ops(), 0, systest.Infinity)
	if all.Failed+all.Unknown > 0 {
		t.Errorf("fragmented links produced errors: %v", all)
		for _, op := range res.H.Ops() {
			if op.Outcome == systest.Failed || op.Outcome == systest.Unknown {
				t.Logf("first error: %s %s: %s", op.Kind, op.Key, op.Err)
				break
			}
		}
	}
	c.ClearToxics()
	v := check(t, c, res)
	summary(t, "seed=%d %v %v %v", seed, all, v.Set, v.Reg)
}

func proxies(c *systest.Cluster) []*systest.Proxy {
	var ps []*systest.Proxy
	for _, n := range c.Nodes {
		ps = append(ps, n.Proxy)
	}
	return ps
}
