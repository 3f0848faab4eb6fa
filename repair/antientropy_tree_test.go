package repair

import (
	"fmt"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
	"github.com/distridata/distridata/storage"
)

// treePart is the partition the bounded-memory tests fill: the test ring
// gives every partition all three nodes, and nodes store a key under the
// partition they are told, so the keys need not hash to it.
const treePart = 7

func (c *cluster) writeTo(node string, items []protocol.Item) {
	c.t.Helper()
	for start := 0; start < len(items); start += 1000 {
		batch := items[start:min(start+1000, len(items))]
		res, err := sendWait(ctxFor(c.t, 30*time.Second), c.pool, node, protocol.ReplicaHeader{}, batch)
		if err != nil {
			c.t.Fatalf("write %d items to %s: %v", len(batch), node, err)
		}
		for i := range res {
			if !acked(res[i].Status) {
				c.t.Fatalf("write %q to %s: %s", batch[i].Key, node, res[i].Status)
			}
		}
	}
}

func (c *cluster) readFrom(node string, k string) protocol.Result {
	c.t.Helper()
	res, err := sendWait(ctxFor(c.t, 5*time.Second), c.pool, node, protocol.ReplicaHeader{}, []protocol.Item{{Kind: protocol.ItemGet, Partition: treePart, Key: []byte(k)}})
	if err != nil {
		c.t.Fatal(err)
	}
	return res[0]
}

func inPart(its ...protocol.Item) []protocol.Item {
	for i := range its {
		its[i].Partition = treePart
	}
	return its
}

// A partition of 50,000 keys on each of three owners, where n3 lacks a
// few keys, holds stale versions of a few and misses two deletes, and n3
// alone has a newer delete: one pass writes exactly the copies missing,
// never holds more than MaxScanKeys keys in a step, and scans only the
// buckets that differ (two levels deep here), not the partition.
func TestAntiEntropyLargePartitionBoundedMemory(t *testing.T) {
	total, maxKeys := 50_000, 500
	if raceEnabled {
		total = 10_000 // still two levels of 16-way splits under a 500 cap
	}
	c := newCluster(t, 3, func(cfg *Config) { cfg.MaxScanKeys, cfg.BucketSplit, cfg.Timeout = maxKeys, 4, 30*time.Second })
	base := make([]protocol.Item, total)
	for i := range base {
		base[i] = put(fmt.Sprintf("key-%06d", i), 10, "v")
	}
	inPart(base...)
	for _, n := range []string{"n1", "n2", "n3"} {
		c.writeTo(n, base)
	}
	lacking := inPart(put("extra-1", 20, "x1"), put("extra-2", 20, "x2"), put("extra-3", 20, "x3"),
		put("extra-4", 20, "x4"), put("extra-5", 20, "x5"), // n3 lacks these
		put("key-000100", 30, "new"), put("key-002000", 30, "new"), put("key-009999", 30, "new"), // n3 stale
		del("key-000200", 30), del("key-003000", 30)) // n3 misses the deletes
	c.writeTo("n1", lacking)
	c.writeTo("n2", lacking)
	onlyN3 := inPart(del("key-004000", 40)) // n1 and n2 lack this newer delete
	c.writeTo("n3", onlyN3)

	ae, err := NewAntiEntropy(c.rcfg, c.pool, c.coord.Ring)
	if err != nil {
		t.Fatal(err)
	}
	defer ae.Close()
	rep, err := ae.Pass(ctxFor(t, 120*time.Second), []uint32{treePart})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report %+v, stats %+v", rep, ae.Stats())
	if want := len(lacking) + 2*len(onlyN3); rep.Keys != want || rep.Mismatched != 1 {
		t.Fatalf("report %+v: want %d copies in 1 mismatched partition", rep, want)
	}
	if s := ae.Stats(); rep.PeakKeys < 1 || rep.PeakKeys > maxKeys || s.PeakStepKeys > uint64(maxKeys) {
		t.Fatalf("a step held %d keys (stats %d), cap %d", rep.PeakKeys, s.PeakStepKeys, maxKeys)
	}
	if rep.Scanned > 3*total/10 || ae.Stats().Buckets == 0 {
		t.Fatalf("scanned %d entries (%d RBUCKETS) for a %d-key partition: the buckets did not narrow it",
			rep.Scanned, ae.Stats().Buckets, total)
	}
	for _, it := range append(lacking, onlyN3...) {
		for _, n := range []string{"n1", "n2", "n3"} {
			res := c.readFrom(n, string(it.Key))
			tomb := res.Flags&protocol.ResultTombstone != 0
			if res.Version != it.Version || tomb != (it.Kind == protocol.ItemDel) || string(res.Value) != string(it.Value) {
				t.Fatalf("%s on %s: %+v, want %+v", it.Key, n, res, it)
			}
		}
	}
	if rep, err = ae.Pass(ctxFor(t, 60*time.Second), []uint32{treePart}); err != nil || rep.Mismatched != 0 {
		t.Fatalf("second pass %+v, %v: want no mismatch", rep, err)
	}
}

// Owners whose key counts each fit in a step but whose union does not
// (one past MaxScanKeys): the step stops at the cap and splits the bucket
// instead of holding more.
func TestAntiEntropyDisjointOwnersSplit(t *testing.T) {
	const perOwner, maxKeys = 50, 60
	c := newCluster(t, 3, func(cfg *Config) { cfg.MaxScanKeys = maxKeys })
	var a, b []protocol.Item
	for i := range perOwner {
		a = append(a, put(fmt.Sprintf("a-%03d", i), 10, "a"))
		b = append(b, put(fmt.Sprintf("b-%03d", i), 10, "b"))
	}
	c.writeTo("n1", inPart(a...))
	c.writeTo("n2", inPart(b...))
	ae, err := NewAntiEntropy(c.rcfg, c.pool, c.coord.Ring)
	if err != nil {
		t.Fatal(err)
	}
	defer ae.Close()
	rep, err := ae.Pass(ctxFor(t, 30*time.Second), []uint32{treePart})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Keys != 4*perOwner || rep.PeakKeys > maxKeys || ae.Stats().Buckets == 0 {
		t.Fatalf("report %+v, stats %+v: want %d copies, at most %d keys per step, a split", rep, ae.Stats(), 4*perOwner, maxKeys)
	}
}

// A wiped replica differs in every bucket: the runs of buckets that fit a
// step are scanned as one bucket each, so the owners' partitions are read
// a few times, not once per bucket.
func TestAntiEntropyWipedReplica(t *testing.T) {
	total := 20_000
	if raceEnabled {
		total = 8_000
	}
	maxKeys := total / 10
	c := newCluster(t, 3, func(cfg *Config) { cfg.MaxScanKeys, cfg.RepairItemsPerSec, cfg.Timeout = maxKeys, 1e6, 30*time.Second })
	items := make([]protocol.Item, total)
	for i := range items {
		items[i] = put(fmt.Sprintf("key-%06d", i), 10, "v")
	}
	c.writeTo("n1", inPart(items...))
	c.writeTo("n2", items)
	ae, err := NewAntiEntropy(c.rcfg, c.pool, c.coord.Ring)
	if err != nil {
		t.Fatal(err)
	}
	defer ae.Close()
	rep, err := ae.Pass(ctxFor(t, 120*time.Second), []uint32{treePart})
	if err != nil {
		t.Fatal(err)
	}
	s := ae.Stats()
	t.Logf("report %+v, stats %+v", rep, s)
	// 256 sub-buckets of total/256 keys: runs of 16 (total/16) fit total/10.
	if rep.Keys != total || rep.PeakKeys > maxKeys || s.ScanPages > 3*32 {
		t.Fatalf("report %+v, %d scan pages: want %d copies, ≤ %d keys a step, ≤ 96 pages", rep, s.ScanPages, total, maxKeys)
	}
}

// The repair byte rate stays under its configured rate (plus the one
// second of burst the bucket starts with): measured over a bounded run as
// bytes written / wall time, a lower bound on time, not a tight timing.
func TestAntiEntropyThrottleBytes(t *testing.T) {
	const rate, keys, size = 32 << 10, 40, 1 << 10
	c := newCluster(t, 3, func(cfg *Config) { cfg.RepairBytesPerSec, cfg.BatchItems = rate, 4 })
	val := string(make([]byte, size))
	var items []protocol.Item
	for i := range keys {
		items = append(items, put(fmt.Sprintf("big-%03d", i), 10, val))
	}
	c.writeTo("n1", inPart(items...))
	ae, err := NewAntiEntropy(c.rcfg, c.pool, c.coord.Ring)
	if err != nil {
		t.Fatal(err)
	}
	defer ae.Close()
	rep, err := ae.Pass(ctxFor(t, 30*time.Second), []uint32{treePart})
	if err != nil || rep.Keys != 2*keys {
		t.Fatalf("report %+v, %v: want %d copies", rep, err, 2*keys)
	}
	minDur := time.Duration(float64(rep.Bytes-rate) / rate * float64(time.Second))
	t.Logf("repaired %d bytes in %v: %.0f B/s (limit %d B/s, burst %d)", rep.Bytes, rep.Duration, float64(rep.Bytes)/rep.Duration.Seconds(), rate, rate)
	if rep.Bytes < 2*keys*size || rep.Duration < minDur*95/100 {
		t.Fatalf("%d bytes took %v, under the %v the rate allows", rep.Bytes, rep.Duration, minDur)
	}
}

// The defaults must let anti-entropy reach every partition well within
// the tombstone grace: a delete a replica missed is repaired (by hint
// replay within HintMaxAge, else by the next anti-entropy cycle) before
// any node may collect its tombstone; otherwise a surviving older value
// could be copied back. Margin 4: the cycle stretches when checks are
// slower than the pace's tick, or a node is down for part of it.
func TestDefaultsRepairWithinTombstoneGrace(t *testing.T) {
	cycle := time.Duration(float64(ring.DefaultPartitions) / DefaultPartitionsPerSec * float64(time.Second))
	worst := DefaultHintMaxAge + cycle
	t.Logf("anti-entropy cycle %v at %v partitions/s over %d partitions; hints %v; worst %v; grace %v",
		cycle, DefaultPartitionsPerSec, ring.DefaultPartitions, DefaultHintMaxAge, worst, storage.DefaultTombstoneGrace)
	if 4*worst > storage.DefaultTombstoneGrace {
		t.Fatalf("hint age %v + anti-entropy cycle %v = %v: not 4× inside the tombstone grace %v",
			DefaultHintMaxAge, cycle, worst, storage.DefaultTombstoneGrace)
	}
}
