package storage

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

// engines opens each engine kind for a test; pebble lives in t.TempDir.
func engines(t *testing.T) map[string]func() Engine {
	return map[string]func() Engine{
		"memory": func() Engine { return NewMemory() },
		"pebble": func() Engine {
			e, err := OpenPebble(t.TempDir(), PebbleOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
	}
}

func forEachEngine(t *testing.T, fn func(t *testing.T, e Engine)) {
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			e := open()
			defer func() {
				if err := e.Close(); err != nil {
					t.Error(err)
				}
			}()
			fn(t, e)
		})
	}
}

// ver builds a version whose wall time is ms milliseconds after the epoch.
func ver(ms uint64, origin uint32) protocol.Version {
	return protocol.Version{TS: ms << protocol.LogicalBits, Origin: origin}
}

func put(p uint32, k string, v protocol.Version, val string) Op {
	return Op{Kind: OpPut, Partition: p, Key: []byte(k), Version: v, Value: []byte(val)}
}

func del(p uint32, k string, v protocol.Version) Op {
	return Op{Kind: OpDel, Partition: p, Key: []byte(k), Version: v}
}

func applyOne(t *testing.T, e Engine, op Op) Outcome {
	t.Helper()
	out := make([]Outcome, 1)
	if err := e.Apply([]Op{op}, out, true); err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func TestEngineLWW(t *testing.T) {
	type step struct {
		op          Op
		wantApplied bool
		wantVersion protocol.Version
		wantTomb    bool
	}
	cases := []struct {
		name    string
		steps   []step
		wantGet Entry
		found   bool
	}{
		{"first put applies", []step{
			{put(1, "k", ver(10, 1), "a"), true, ver(10, 1), false},
		}, Entry{Version: ver(10, 1), Value: []byte("a")}, true},
		{"older version ignored", []step{
			{put(1, "k", ver(10, 1), "a"), true, ver(10, 1), false},
			{put(1, "k", ver(9, 1), "b"), false, ver(10, 1), false},
		}, Entry{Version: ver(10, 1), Value: []byte("a")}, true},
		{"equal version ignored", []step{
			{put(1, "k", ver(10, 1), "a"), true, ver(10, 1), false},
			{put(1, "k", ver(10, 1), "b"), false, ver(10, 1), false},
		}, Entry{Version: ver(10, 1), Value: []byte("a")}, true},
		{"origin breaks a timestamp tie", []step{
			{put(1, "k", ver(10, 1), "a"), true, ver(10, 1), false},
			{put(1, "k", ver(10, 2), "b"), true, ver(10, 2), false},
		}, Entry{Version: ver(10, 2), Value: []byte("b")}, true},
		{"tombstone wins over older value", []step{
			{put(1, "k", ver(10, 1), "a"), true, ver(10, 1), false},
			{del(1, "k", ver(11, 1)), true, ver(11, 1), true},
			{put(1, "k", ver(10, 5), "late"), false, ver(11, 1), true},
		}, Entry{Version: ver(11, 1), Tombstone: true}, true},
		{"older tombstone ignored", []step{
			{put(1, "k", ver(10, 1), "a"), true, ver(10, 1), false},
			{del(1, "k", ver(9, 1)), false, ver(10, 1), false},
		}, Entry{Version: ver(10, 1), Value: []byte("a")}, true},
		{"newer value wins over tombstone", []step{
			{del(1, "k", ver(10, 1)), true, ver(10, 1), true},
			{put(1, "k", ver(12, 1), "b"), true, ver(12, 1), false},
		}, Entry{Version: ver(12, 1), Value: []byte("b")}, true},
		{"delete of absent key stores a tombstone", []step{
			{del(1, "k", ver(10, 1)), true, ver(10, 1), true},
		}, Entry{Version: ver(10, 1), Tombstone: true}, true},
		{"partitions are separate", []step{
			{put(2, "k", ver(10, 1), "a"), true, ver(10, 1), false},
		}, Entry{}, false},
		{"empty value", []step{
			{put(1, "k", ver(10, 1), ""), true, ver(10, 1), false},
		}, Entry{Version: ver(10, 1)}, true},
	}
	forEachEngine(t, func(t *testing.T, e Engine) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				key := fmt.Sprintf("k%d", i) // a fresh key per case on one engine
				for j, s := range c.steps {
					s.op.Key = []byte(key)
					got := applyOne(t, e, s.op)
					want := Outcome{Applied: s.wantApplied, Version: s.wantVersion, Tombstone: s.wantTomb}
					if got != want {
						t.Fatalf("step %d: got %+v, want %+v", j, got, want)
					}
				}
				got, found, err := e.Get(1, []byte(key), nil)
				if err != nil {
					t.Fatal(err)
				}
				if found != c.found || got.Version != c.wantGet.Version || got.Tombstone != c.wantGet.Tombstone || !bytes.Equal(got.Value, c.wantGet.Value) {
					t.Fatalf("get: got %+v found=%v, want %+v found=%v", got, found, c.wantGet, c.found)
				}
			})
		}
	})
}

// TestEngineBatchSeesItself: ops in one Apply see the ops before them.
func TestEngineBatchSeesItself(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e Engine) {
		ops := []Op{
			put(1, "k", ver(10, 1), "a"),
			put(1, "k", ver(9, 1), "old"),
			del(1, "k", ver(11, 1)),
			put(1, "k", ver(11, 1), "tie"),
		}
		out := make([]Outcome, len(ops))
		if err := e.Apply(ops, out, false); err != nil {
			t.Fatal(err)
		}
		want := []Outcome{
			{Applied: true, Version: ver(10, 1)},
			{Version: ver(10, 1)},
			{Applied: true, Version: ver(11, 1), Tombstone: true},
			{Version: ver(11, 1), Tombstone: true},
		}
		for i := range want {
			if out[i] != want[i] {
				t.Errorf("op %d: got %+v, want %+v", i, out[i], want[i])
			}
		}
		if e.Keys() != 1 {
			t.Errorf("Keys = %d, want 1", e.Keys())
		}
	})
}

func TestEngineRejectsBadOps(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e Engine) {
		for _, op := range []Op{{Kind: OpPut, Version: ver(1, 1)}, {Kind: 9, Key: []byte("k")}} {
			err := e.Apply([]Op{put(1, "ok", ver(1, 1), "v"), op}, make([]Outcome, 2), false)
			if err != ErrBadOp {
				t.Errorf("Apply(%+v) = %v, want ErrBadOp", op, err)
			}
		}
		if _, found, _ := e.Get(1, []byte("ok"), nil); found {
			t.Error("a batch with a bad op was partly applied")
		}
	})
}

func TestEngineScanOrderAndPaging(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e Engine) {
		var ops []Op
		for i := range 25 {
			k := fmt.Sprintf("key%02d", 24-i) // inserted in reverse order
			if i%5 == 0 {
				ops = append(ops, del(7, k, ver(uint64(100+i), 1)))
			} else {
				ops = append(ops, put(7, k, ver(uint64(100+i), 1), "v"+k))
			}
		}
		// Neighbouring partitions must not leak into the scan.
		ops = append(ops, put(6, "zzz", ver(1, 1), "x"), put(8, "aaa", ver(1, 1), "x"))
		if err := e.Apply(ops, make([]Outcome, len(ops)), false); err != nil {
			t.Fatal(err)
		}
		var got []string
		var after []byte
		pages := 0
		for {
			more, err := e.ScanPartition(7, after, 10, func(en Entry) bool {
				k := string(en.Key)
				if en.Tombstone != (len(en.Value) == 0) || (!en.Tombstone && string(en.Value) != "v"+k) {
					t.Errorf("%s: tombstone=%v value=%q", k, en.Tombstone, en.Value)
				}
				got = append(got, k)
				after = []byte(k)
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if !more {
				break
			}
		}
		if pages != 3 || len(got) != 25 {
			t.Fatalf("pages=%d keys=%d, want 3 and 25", pages, len(got))
		}
		for i, k := range got {
			if want := fmt.Sprintf("key%02d", i); k != want {
				t.Fatalf("entry %d = %s, want %s", i, k, want)
			}
		}
		// fn returning false stops before that entry and reports more.
		n := 0
		more, err := e.ScanPartition(7, nil, 100, func(Entry) bool { n++; return n < 3 })
		if err != nil || !more || n != 3 {
			t.Fatalf("early stop: more=%v n=%d err=%v", more, n, err)
		}
		// An exact last page reports no more.
		more, err = e.ScanPartition(7, []byte("key19"), 5, func(Entry) bool { return true })
		if err != nil || more {
			t.Fatalf("exact last page: more=%v err=%v", more, err)
		}
	})
}

// TestEngineScanLastPartition: the top partition has no upper bound key.
func TestEngineScanLastPartition(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e Engine) {
		top := ^uint32(0)
		applyOne(t, e, put(top, "a", ver(1, 1), "x"))
		applyOne(t, e, put(top, "b", ver(1, 1), "y"))
		var keys []string
		if _, err := e.ScanPartition(top, []byte("a"), 10, func(en Entry) bool {
			keys = append(keys, string(en.Key))
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0] != "b" {
			t.Fatalf("keys = %q, want [b]", keys)
		}
	})
}

func TestEngineDigest(t *testing.T) {
	content := []Op{
		put(3, "a", ver(10, 1), "x"),
		del(3, "b", ver(11, 1)),
		put(3, "c", ver(12, 2), "y"),
	}
	variants := map[string]func([]Op) []Op{
		"older version": func(o []Op) []Op { o[0].Version = ver(9, 1); return o },
		"live vs tombstone": func(o []Op) []Op {
			o[1] = put(3, "b", ver(11, 1), "")
			return o
		},
		"missing key":   func(o []Op) []Op { return o[:2] },
		"different key": func(o []Op) []Op { o[2].Key = []byte("d"); return o },
	}
	base := map[string]PartitionDigest{}
	forEachEngine(t, func(t *testing.T, e Engine) {
		// Same content in another order, on the same engine kind.
		rev := NewMemory()
		defer rev.Close()
		ops := append([]Op(nil), content...)
		for i, j := 0, len(ops)-1; i < j; i, j = i+1, j-1 {
			ops[i], ops[j] = ops[j], ops[i]
		}
		if err := rev.Apply(ops, make([]Outcome, len(ops)), false); err != nil {
			t.Fatal(err)
		}
		if err := e.Apply(content, make([]Outcome, len(content)), false); err != nil {
			t.Fatal(err)
		}
		applyOne(t, e, put(4, "a", ver(10, 1), "x")) // another partition
		d, err := e.Digest(3)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := rev.Digest(3)
		if d != want || d.Keys != 3 {
			t.Fatalf("digest %+v, want %+v with 3 keys", d, want)
		}
		base[t.Name()] = d
		for name, mutate := range variants {
			m := NewMemory()
			ops := mutate(append([]Op(nil), content...))
			if err := m.Apply(ops, make([]Outcome, len(ops)), false); err != nil {
				t.Fatal(err)
			}
			if got, _ := m.Digest(3); got == d {
				t.Errorf("%s: digest equal to the original", name)
			}
			m.Close()
		}
	})
	if len(base) != 2 || base["TestEngineDigest/memory"] != base["TestEngineDigest/pebble"] {
		t.Fatalf("engines disagree on the digest of equal content: %+v", base)
	}
}

func TestEngineCollectGarbage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e Engine) {
		now := time.UnixMilli(1_000_000)
		grace := 10 * time.Second
		old := uint64(now.Add(-time.Minute).UnixMilli())
		recent := uint64(now.Add(-time.Second).UnixMilli())
		ops := []Op{
			del(1, "old-tomb", ver(old, 1)),
			del(1, "recent-tomb", ver(recent, 1)),
			put(1, "old-value", ver(old, 1), "v"),
		}
		for i := range 5 {
			ops = append(ops, del(2, fmt.Sprintf("t%d", i), ver(old, 1)))
		}
		if err := e.Apply(ops, make([]Outcome, len(ops)), false); err != nil {
			t.Fatal(err)
		}
		cutoff := now.Add(-grace)
		n, err := e.CollectGarbage(cutoff, 4)
		if err != nil || n != 4 {
			t.Fatalf("first pass removed %d (err %v), want the limit 4", n, err)
		}
		n, err = e.CollectGarbage(cutoff, 100)
		if err != nil || n != 2 {
			t.Fatalf("second pass removed %d (err %v), want 2", n, err)
		}
		for k, want := range map[string]bool{"old-tomb": false, "recent-tomb": true, "old-value": true} {
			if _, found, _ := e.Get(1, []byte(k), nil); found != want {
				t.Errorf("%s found=%v, want %v", k, found, want)
			}
		}
		if e.Keys() != 2 {
			t.Errorf("Keys = %d, want 2", e.Keys())
		}
		// Once collected, an older write is accepted again: that is what
		// the grace period must be long enough to prevent.
		if o := applyOne(t, e, put(1, "old-tomb", ver(old-1, 1), "late")); !o.Applied {
			t.Error("write after collection was not applied")
		}
	})
}

func TestEngineClosed(t *testing.T) {
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			e := open()
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if err := e.Apply([]Op{put(1, "k", ver(1, 1), "v")}, make([]Outcome, 1), false); err != ErrClosed {
				t.Fatalf("Apply after Close = %v, want ErrClosed", err)
			}
			if _, _, err := e.Get(1, []byte("k"), nil); err == nil {
				t.Fatal("Get after Close succeeded")
			}
		})
	}
}
