package repair

import (
	"context"
	"testing"
	"time"
)

// SetRates settles the time so far at the old rates, then caps the
// tokens at the new burst: the next Wait pays the new rate.
func TestLimiterSetRates(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter(10, 1<<30)
	l.now, l.last = func() time.Time { return now }, now
	if err := l.Wait(context.Background(), 10, 0); err != nil { // the burst, no wait
		t.Fatal(err)
	}
	now = now.Add(500 * time.Millisecond) // 5 items earned at 10/s
	l.SetRates(2, 1<<30)
	if l.items != 2 || l.itemRate != 2 {
		t.Fatalf("after SetRates(2): %v tokens at %v/s, want 2 at 2/s", l.items, l.itemRate)
	}
	l.SetRates(100, 1<<30)
	if l.items != 2 || l.itemRate != 100 {
		t.Fatalf("after SetRates(100): %v tokens at %v/s, want 2 (no time passed) at 100/s", l.items, l.itemRate)
	}
}

// A goroutine already waiting out a low rate's debt (255 s at 1 item/s)
// recomputes its wait when the rate is raised, instead of sleeping it out.
func TestLimiterSetRatesWakesWaiters(t *testing.T) {
	l := NewLimiter(1, 1<<30)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, 256, 0) }()
	for {
		l.mu.Lock()
		inDebt := l.items < 0
		l.mu.Unlock()
		if inDebt {
			break
		}
		time.Sleep(time.Millisecond)
	}
	l.SetRates(1e6, 1<<30)
	if err := <-done; err != nil {
		t.Fatalf("waiter still asleep after the rate went from 1/s to 1e6/s: %v", err)
	}
}

// A background pass started at pace zero idles; SetTunables gives it a
// pace and it repairs; an invalid t is refused and changes nothing.
func TestAntiEntropySetTunablesPace(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.PartitionsPerSec = 0 })
	c.plant("n1", put("paced", 10, "v"))
	ae, err := NewAntiEntropy(c.rcfg, c.pool, c.coord.Ring)
	if err != nil {
		t.Fatal(err)
	}
	defer ae.Close()
	ae.Start()
	bad := c.rcfg.Tunables()
	bad.RepairItemsPerSec = 0
	if err := ae.SetTunables(bad); err == nil {
		t.Fatal("a zero repair rate was accepted")
	}
	if got := ae.Stats().Checked; got != 0 {
		t.Fatalf("pace 0 checked %d partitions", got)
	}
	paced := c.rcfg.Tunables()
	paced.PartitionsPerSec = 500
	if err := ae.SetTunables(paced); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "background repair at the new pace", 10*time.Second, func() bool { return ae.Stats().Keys == 2 })
	paced.PartitionsPerSec = 0
	if err := ae.SetTunables(paced); err != nil {
		t.Fatal(err)
	}
}
