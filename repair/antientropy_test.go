package repair

import (
	"context"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

func put(k string, ts uint64, v string) protocol.Item {
	return protocol.Item{Kind: protocol.ItemPut, Version: protocol.Version{TS: ts, Origin: 1}, Key: []byte(k), Value: []byte(v)}
}

func del(k string, ts uint64) protocol.Item {
	return protocol.Item{Kind: protocol.ItemDel, Version: protocol.Version{TS: ts, Origin: 1}, Key: []byte(k)}
}

// Replicas that diverged in every way converge to the newest version of
// each key, tombstones included, with a report that counts the copies.
func TestAntiEntropyConverges(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.plant("n1", put("a", 10, "a1"))             // only n1 has a
	c.plant("n2", put("b", 10, "b-old"))          // n2 stale, n3 newer
	c.plant("n3", put("b", 20, "b-new"))          //
	c.plant("n1", put("c", 10, "c1"))             // deleted later on n2 only
	c.plant("n2", del("c", 30))                   //
	c.plant("n3", put("c", 10, "c1"))             //
	c.plant("n1", put("d", 50, "d-newest-on-n1")) // n1 newest; others older
	c.plant("n2", put("d", 40, "d-older"))        //
	ae, err := NewAntiEntropy(c.rcfg, c.pool, c.coord.Ring)
	if err != nil {
		t.Fatal(err)
	}
	defer ae.Close()
	r := c.coord.Ring()
	var parts []uint32
	for _, k := range []string{"a", "b", "c", "d"} {
		parts = append(parts, r.Partition([]byte(k)))
	}
	rep, err := ae.Pass(ctxFor(t, 10*time.Second), parts)
	if err != nil {
		t.Fatal(err)
	}
	// a: 2 copies, b: 1 (n1 lacks) + 1 (n2 stale) = 2, c: 2 tombstones, d: 2.
	if rep.Keys != 8 {
		t.Fatalf("report %+v: want 8 key copies", rep)
	}
	check := func(k string, ts uint64, val string, tomb bool) {
		t.Helper()
		for _, n := range []string{"n1", "n2", "n3"} {
			res := c.direct(n, []byte(k))
			if res.Version.TS != ts || string(res.Value) != val || (res.Flags&protocol.ResultTombstone != 0) != tomb {
				t.Fatalf("%s on %s: %+v, want ts %d %q tomb=%v", k, n, res, ts, val, tomb)
			}
		}
	}
	check("a", 10, "a1", false)
	check("b", 20, "b-new", false)
	check("c", 30, "", true)
	check("d", 50, "d-newest-on-n1", false)
	if rep, err = ae.Pass(ctxFor(t, 10*time.Second), parts); err != nil || rep.Mismatched != 0 {
		t.Fatalf("second pass %+v, %v: want no mismatch", rep, err)
	}
	if s := ae.Stats(); s.Keys != 8 || s.Checked == 0 {
		t.Fatalf("stats %+v", s)
	}
}

// The repair write rate stays under its configured rate (plus the one
// second of burst the bucket starts with).
func TestAntiEntropyThrottle(t *testing.T) {
	const rate, keys = 200, 300
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.RepairItemsPerSec = rate
		cfg.BatchItems = 20
	})
	for i := range keys {
		c.plant("n1", put(string(key(i)), 10, "v"))
	}
	ae, err := NewAntiEntropy(c.rcfg, c.pool, c.coord.Ring)
	if err != nil {
		t.Fatal(err)
	}
	defer ae.Close()
	rep, err := ae.Pass(ctxFor(t, 30*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Keys != 2*keys {
		t.Fatalf("report %+v: want %d copies", rep, 2*keys)
	}
	// 2×300 items at 200/s with a burst of 200: at least 2 s.
	minDur := time.Duration(float64(rep.Keys-rate) / rate * float64(time.Second))
	measured := float64(rep.Keys) / rep.Duration.Seconds()
	t.Logf("repaired %d copies in %v: %.0f/s (limit %d/s, burst %d)", rep.Keys, rep.Duration, measured, rate, rate)
	if rep.Duration < minDur*95/100 {
		t.Fatalf("took %v, under the %v the rate allows", rep.Duration, minDur)
	}
}

func TestAntiEntropyBackgroundLoopStops(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.PartitionsPerSec = 500 })
	c.plant("n1", put("bg", 10, "v"))
	ae, err := NewAntiEntropy(c.rcfg, c.pool, c.coord.Ring)
	if err != nil {
		t.Fatal(err)
	}
	ae.Start()
	waitFor(t, "background repair", 10*time.Second, func() bool { return ae.Stats().Keys == 2 })
	ae.Close()
	ae.Close() // idempotent
	// A closed runner's requests are cancelled: a pass ends at once.
	c.plant("n2", put("bg", 20, "v2"))
	if _, err := ae.Pass(context.Background(), []uint32{c.coord.Ring().Partition([]byte("bg"))}); err == nil {
		t.Fatal("a closed runner repaired")
	}
}

func TestLimiterRate(t *testing.T) {
	l := NewLimiter(1000, 1<<30)
	start := time.Now()
	ctx := ctxFor(t, 10*time.Second)
	for range 150 { // 1500 items: 1000 of burst, 500 at 1000/s
		if err := l.Wait(ctx, 10, 1); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Fatalf("1500 items at 1000/s with 1000 burst took %v, want ≥ 0.5 s", d)
	}
}
