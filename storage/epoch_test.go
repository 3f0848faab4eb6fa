package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/distridata/distridata/protocol"
)

func repoch(id, epoch, ring uint64) []byte {
	return protocol.AppendEpochCommit(nil, id, protocol.EpochCommit{ReplicaHeader: protocol.ReplicaHeader{Epoch: epoch, Ring: ring}})
}

// dropRing is the ring fingerprint the drop tests commit and drop under.
const dropRing = 1

func rdrop(id, epoch uint64, p uint32) []byte {
	return rdropRing(id, epoch, dropRing, p)
}

func rdropRing(id, epoch, ring uint64, p uint32) []byte {
	return protocol.AppendDrop(nil, id, protocol.Drop{ReplicaHeader: protocol.ReplicaHeader{Epoch: epoch, Ring: ring}, Partition: p})
}

func at(epoch uint64) protocol.ReplicaHeader { return protocol.ReplicaHeader{Epoch: epoch} }

// epochReply sends an REPOCH and decodes its reply.
func epochReply(t *testing.T, c *testConn, id, epoch, ring uint64) (protocol.Status, protocol.EpochReply) {
	t.Helper()
	f := c.rpc(repoch(id, epoch, ring))
	r, err := protocol.DecodeEpochReply(f.Body)
	if err != nil {
		t.Fatalf("REPOCH %d reply %v: %v", epoch, f.Status, err)
	}
	return f.Status, r
}

func dropReply(t *testing.T, c *testConn, id, epoch uint64, p uint32) (protocol.Status, protocol.DropReply) {
	t.Helper()
	f := c.rpc(rdrop(id, epoch, p))
	r, err := protocol.DecodeDropReply(f.Body)
	if err != nil {
		t.Fatalf("RDROP %d reply %v: %v", epoch, f.Status, err)
	}
	return f.Status, r
}

// TestEpochFencing: before any REPOCH every epoch is served; once epoch 5
// is committed, every replica op from an older ring is refused with the
// stamp saying 5 and nothing applied, while 5 and newer are served.
func TestEpochFencing(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	c := dialHello(t, s.Addr(), "")
	future := uint64(time.Now().Add(time.Hour).UnixMilli()) << protocol.LogicalBits
	st, r := result(t, c.rpc(rput(1, at(9), 1, "k", protocol.Version{TS: future, Origin: 1}, "v")))
	if r.Status != protocol.StatusOK || st.Epoch != 0 || st.Clock < future {
		t.Fatalf("before any commit: %v stamp %+v", r.Status, st)
	}
	if _, r := result(t, c.rpc(rput(2, at(1), 1, "old", ver(1, 1), "v"))); r.Status != protocol.StatusOK {
		t.Fatalf("epoch 1 before any commit: %v", r.Status)
	}
	if code, er := epochReply(t, c, 3, 5, 0xAB); code != protocol.StatusOK || er.Epoch != 5 || er.Ring != 0xAB {
		t.Fatalf("REPOCH 5: %v %+v", code, er)
	}
	st, r = result(t, c.rpc(rput(4, at(4), 1, "stale", ver(2, 1), "v")))
	if r.Status != protocol.StatusWrongEpoch || st.Epoch != 5 {
		t.Fatalf("stale RPUT: %v stamp %+v", r.Status, st)
	}
	st, r = result(t, c.rpc(protocol.AppendReplicaOp(nil, 5, at(4), protocol.Item{Kind: protocol.ItemGet, Partition: 1, Key: []byte("old")})))
	if r.Status != protocol.StatusWrongEpoch || st.Epoch != 5 || len(r.Value) != 0 {
		t.Fatalf("stale RGET: %v stamp %+v", r.Status, st)
	}
	w := protocol.BeginReplicaBatch(nil, 6, at(3))
	w.Add(protocol.Item{Kind: protocol.ItemPut, Partition: 2, Key: []byte("b"), Version: ver(3, 1), Value: []byte("v")})
	w.Add(protocol.Item{Kind: protocol.ItemGet, Partition: 1, Key: []byte("old")})
	f := c.rpc(w.Finish())
	br, err := protocol.DecodeReplicaBatchReply(f.Body)
	if err != nil || f.Status != protocol.StatusOK || br.Epoch != 5 || br.Count != 2 {
		t.Fatalf("stale RBATCH: %v %v %+v", f.Status, err, br)
	}
	for res, ok := br.Next(); ok; res, ok = br.Next() {
		if res.Status != protocol.StatusWrongEpoch {
			t.Fatalf("stale RBATCH item: %v", res.Status)
		}
	}
	if f := c.rpc(protocol.AppendScan(nil, 7, protocol.Scan{ReplicaHeader: at(4), Partition: 1})); f.Status != protocol.StatusWrongEpoch {
		t.Fatalf("stale RSCAN: %v", f.Status)
	}
	if f := c.rpc(protocol.AppendDigest(nil, 8, protocol.Digest{ReplicaHeader: at(4), Partition: 1})); f.Status != protocol.StatusWrongEpoch {
		t.Fatalf("stale RDIGEST: %v", f.Status)
	}
	// Nothing of the refused requests was applied.
	for _, k := range []struct {
		p   uint32
		key string
	}{{1, "stale"}, {2, "b"}} {
		if _, r := result(t, c.rpc(protocol.AppendReplicaOp(nil, 9, at(5), protocol.Item{Kind: protocol.ItemGet, Partition: k.p, Key: []byte(k.key)}))); r.Status != protocol.StatusNotFound {
			t.Fatalf("%s after a refused write: %v", k.key, r.Status)
		}
	}
	if _, r := result(t, c.rpc(rput(10, at(6), 1, "newer", ver(4, 1), "v"))); r.Status != protocol.StatusOK {
		t.Fatalf("a newer ring's write: %v", r.Status)
	}
	if f := c.rpc(protocol.AppendStats(nil, 11)); !strings.Contains(string(f.Body), "wrong_epoch 5\n") || !strings.Contains(string(f.Body), "epoch 5\n") {
		t.Fatalf("stats:\n%s", f.Body)
	}
}

// TestRingFencing: once (epoch 5, ring 0xAB) is committed, every replica
// op at epoch 5 from another ring is refused WRONG_EPOCH with nothing
// applied (two daemons with different memberships build different rings
// at one epoch), while the committed ring, an unknown ring (0, tools) and
// a newer epoch (a move under way, not committed yet) are served.
func TestRingFencing(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	c := dialHello(t, s.Addr(), "")
	if code, _ := epochReply(t, c, 1, 5, 0xAB); code != protocol.StatusOK {
		t.Fatalf("REPOCH: %v", code)
	}
	other := protocol.ReplicaHeader{Epoch: 5, Ring: 0xCD}
	st, r := result(t, c.rpc(rput(2, other, 1, "k", ver(1, 1), "v")))
	if r.Status != protocol.StatusWrongEpoch || st.Epoch != 5 {
		t.Fatalf("RPUT from another ring: %v stamp %+v", r.Status, st)
	}
	if _, r := result(t, c.rpc(rdel(3, other, 1, "k", ver(2, 1)))); r.Status != protocol.StatusWrongEpoch {
		t.Fatalf("RDEL from another ring: %v", r.Status)
	}
	if _, r := result(t, c.rpc(protocol.AppendReplicaOp(nil, 4, other, protocol.Item{Kind: protocol.ItemGet, Partition: 1, Key: []byte("k")}))); r.Status != protocol.StatusWrongEpoch {
		t.Fatalf("RGET from another ring: %v", r.Status)
	}
	w := protocol.BeginReplicaBatch(nil, 5, other)
	w.Add(protocol.Item{Kind: protocol.ItemPut, Partition: 2, Key: []byte("b"), Version: ver(3, 1), Value: []byte("v")})
	f := c.rpc(w.Finish())
	br, err := protocol.DecodeReplicaBatchReply(f.Body)
	if err != nil || br.Count != 1 {
		t.Fatalf("RBATCH from another ring: %v %v", f.Status, err)
	}
	if res, _ := br.Next(); res.Status != protocol.StatusWrongEpoch {
		t.Fatalf("RBATCH item from another ring: %v", res.Status)
	}
	if f := c.rpc(protocol.AppendScan(nil, 6, protocol.Scan{ReplicaHeader: other, Partition: 1})); f.Status != protocol.StatusWrongEpoch {
		t.Fatalf("RSCAN from another ring: %v", f.Status)
	}
	if f := c.rpc(protocol.AppendDigest(nil, 7, protocol.Digest{ReplicaHeader: other, Partition: 1})); f.Status != protocol.StatusWrongEpoch {
		t.Fatalf("RDIGEST from another ring: %v", f.Status)
	}
	if s.Engine().Keys() != 0 {
		t.Fatalf("refused writes applied: %d keys", s.Engine().Keys())
	}
	for i, h := range []protocol.ReplicaHeader{{Epoch: 5, Ring: 0xAB}, {Epoch: 5}, {Epoch: 6, Ring: 0xCD}} {
		key := fmt.Sprintf("k%d", i)
		if _, r := result(t, c.rpc(rput(uint64(10+i), h, 1, key, ver(1, 1), "v"))); r.Status != protocol.StatusOK {
			t.Fatalf("RPUT at %+v: %v", h, r.Status)
		}
	}
	f = c.rpc(protocol.AppendStats(nil, 20))
	for _, want := range []string{"wrong_epoch 6\n", "wrong_ring 6\n"} {
		if !strings.Contains(string(f.Body), want) {
			t.Fatalf("stats lack %q:\n%s", want, f.Body)
		}
	}
}

// TestEpochCommitRules: REPOCH only moves forward, is idempotent for the
// same ring, refuses another ring at the same epoch, and epoch 0 asks.
func TestEpochCommitRules(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	c := dialHello(t, s.Addr(), "")
	cases := []struct {
		name       string
		epoch      uint64
		ring       uint64
		want       protocol.Status
		wantCommit uint64
		wantRing   uint64
	}{
		{"query a fresh node", 0, 0, protocol.StatusOK, 0, 0},
		{"first commit", 3, 0x33, protocol.StatusOK, 3, 0x33},
		{"same again", 3, 0x33, protocol.StatusOK, 3, 0x33},
		{"same epoch, other ring", 3, 0x44, protocol.StatusWrongEpoch, 3, 0x33},
		{"older", 2, 0x22, protocol.StatusWrongEpoch, 3, 0x33},
		{"query", 0, 0, protocol.StatusWrongEpoch, 3, 0x33},
		{"skip ahead", 7, 0x77, protocol.StatusOK, 7, 0x77},
	}
	for i, tc := range cases {
		code, er := epochReply(t, c, uint64(i+1), tc.epoch, tc.ring)
		if code != tc.want || er.Epoch != tc.wantCommit || er.Ring != tc.wantRing {
			t.Errorf("%s: %v epoch %d ring %#x; want %v %d %#x", tc.name, code, er.Epoch, er.Ring, tc.want, tc.wantCommit, tc.wantRing)
		}
	}
}

// TestEpochSurvivesRestart: a pebble node keeps its committed epoch (and
// its key count ignores the record), so a restart does not let a stale
// daemon back in.
func TestEpochSurvivesRestart(t *testing.T) {
	cfg := testConfig()
	cfg.Engine, cfg.Dir, cfg.Sync = EnginePebble, t.TempDir(), SyncAlways
	s := startServer(t, cfg, nil)
	c := dialHello(t, s.Addr(), "")
	if code, _ := epochReply(t, c, 1, 4, 0x44); code != protocol.StatusOK {
		t.Fatalf("REPOCH: %v", code)
	}
	if _, r := result(t, c.rpc(rput(2, at(4), 1, "k", ver(1, 1), "v"))); r.Status != protocol.StatusOK {
		t.Fatalf("RPUT: %v", r.Status)
	}
	shutdown(t, s)
	s = startServer(t, cfg, nil)
	c = dial(t, s.Addr())
	c.send(protocol.AppendHello(nil, 0, protocol.Hello{Version: protocol.PeerVersion, Role: protocol.RolePeer}))
	hr, err := protocol.DecodeHelloReply(c.read().Body)
	if err != nil || hr.Epoch != 4 {
		t.Fatalf("HELLO after restart: epoch %d, %v", hr.Epoch, err)
	}
	if _, r := result(t, c.rpc(rput(3, at(3), 1, "k2", ver(2, 1), "v"))); r.Status != protocol.StatusWrongEpoch {
		t.Fatalf("stale RPUT after restart: %v", r.Status)
	}
	if n := s.Engine().Keys(); n != 1 {
		t.Fatalf("Keys = %d after restart, want 1", n)
	}
}

// TestSeenEpochSurvivesRestart: a request from a ring being moved to
// (epoch 6 while 5 is committed) holds drops under 5 back, and a restart
// of the node must not forget it: the daemon making the change may have
// copied data here already, which a drop under 5 would remove. Before
// seen was saved, the restarted node dropped the partition.
func TestSeenEpochSurvivesRestart(t *testing.T) {
	cfg := testConfig()
	cfg.Engine, cfg.Dir, cfg.Sync = EnginePebble, t.TempDir(), SyncAlways
	s := startServer(t, cfg, nil)
	c := dialHello(t, s.Addr(), "")
	epochReply(t, c, 1, 5, dropRing)
	if _, r := result(t, c.rpc(rput(2, protocol.ReplicaHeader{Epoch: 6, Ring: dropRing + 1}, 7, "copied", ver(1, 1), "v"))); r.Status != protocol.StatusOK {
		t.Fatalf("RPUT from the ring being moved to: %v", r.Status)
	}
	shutdown(t, s)
	s = startServer(t, cfg, nil)
	c = dialHello(t, s.Addr(), "")
	if code, dr := dropReply(t, c, 3, 5, 7); code != protocol.StatusWrongEpoch || dr.Keys != 0 {
		t.Fatalf("drop under the old ring after a restart mid-move: %v %+v", code, dr)
	}
	if n := s.Engine().Keys(); n != 1 {
		t.Fatalf("Keys = %d after the refused drop, want 1", n)
	}
	if f := c.rpc(protocol.AppendStats(nil, 4)); !strings.Contains(string(f.Body), "epoch_seen 6\n") {
		t.Fatalf("stats after restart:\n%s", f.Body)
	}
	epochReply(t, c, 5, 6, dropRing)
	if code, dr := dropReply(t, c, 6, 6, 7); code != protocol.StatusOK || dr.Keys != 1 {
		t.Fatalf("drop once the new ring is committed: %v %+v", code, dr)
	}
}

// TestEpochRecordV1: a committed-epoch record written before seen was
// kept (16 bytes) still loads, with seen = the committed epoch.
func TestEpochRecordV1(t *testing.T) {
	dir := t.TempDir()
	p, err := OpenPebble(dir, PebbleOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	v := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 4), 0x44)
	if err := p.db.Set(epochKey, v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if got, err := p.LoadEpoch(); err != nil || got != (EpochState{Epoch: 4, Ring: 0x44, Seen: 4}) {
		t.Fatalf("LoadEpoch of a 16-byte record = %+v, %v", got, err)
	}
	if err := p.db.Set(epochKey, v[:15], pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := p.LoadEpoch(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("LoadEpoch of a 15-byte record: %v, want ErrCorrupt", err)
	}
	p.Close()
}

// TestDropPartition: RDROP removes one partition, and only under the
// committed epoch with no newer ring in sight.
func TestDropPartition(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	c := dialHello(t, s.Addr(), "")
	for i, k := range []string{"a", "b", "c"} {
		c.rpc(rput(uint64(i+1), at(5), 7, k, ver(1, 1), "v"))
	}
	c.rpc(rdel(4, at(5), 7, "d", ver(1, 1)))
	c.rpc(rput(5, at(5), 8, "keep", ver(1, 1), "v"))
	if code, _ := dropReply(t, c, 6, 5, 7); code != protocol.StatusWrongEpoch {
		t.Fatalf("drop before any commit: %v", code)
	}
	epochReply(t, c, 7, 5, dropRing)
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"another ring at the committed epoch", rdropRing(8, 5, dropRing+1, 7)},
		{"unknown ring at the committed epoch", rdropRing(8, 5, 0, 7)},
		{"stale ring", rdrop(8, 4, 7)},
		{"uncommitted ring", rdrop(8, 6, 7)},
	} {
		f := c.rpc(tc.frame)
		if dr, err := protocol.DecodeDropReply(f.Body); err != nil || f.Status != protocol.StatusWrongEpoch || dr.Epoch != 5 || dr.Keys != 0 {
			t.Fatalf("%s: %v %+v %v", tc.name, f.Status, dr, err)
		}
	}
	// The epoch-6 drop above announced a ring change in progress: no drop
	// under 5 any more, until 6 is committed.
	if code, _ := dropReply(t, c, 9, 5, 7); code != protocol.StatusWrongEpoch {
		t.Fatalf("drop while a newer ring is being moved to: %v", code)
	}
	if s.Engine().Keys() != 5 {
		t.Fatalf("refused drops removed data: %d keys", s.Engine().Keys())
	}
	epochReply(t, c, 10, 6, dropRing)
	code, dr := dropReply(t, c, 11, 6, 7)
	if code != protocol.StatusOK || dr.Keys != 4 || dr.Epoch != 6 {
		t.Fatalf("drop: %v %+v", code, dr)
	}
	if _, r := result(t, c.rpc(protocol.AppendReplicaOp(nil, 12, at(6), protocol.Item{Kind: protocol.ItemGet, Partition: 8, Key: []byte("keep")}))); r.Status != protocol.StatusOK {
		t.Fatalf("another partition's key after the drop: %v", r.Status)
	}
	if n := s.Engine().Keys(); n != 1 {
		t.Fatalf("Keys = %d after the drop, want 1", n)
	}
	if code, dr := dropReply(t, c, 13, 6, 7); code != protocol.StatusOK || dr.Keys != 0 {
		t.Fatalf("second drop: %v %+v", code, dr)
	}
	f := c.rpc(protocol.AppendStats(nil, 14))
	for _, want := range []string{"dropped_partitions 2\n", "dropped_keys 4\n", "drop_refused 6\n"} {
		if !strings.Contains(string(f.Body), want) {
			t.Fatalf("stats lack %q:\n%s", want, f.Body)
		}
	}
}

// TestEngineDropPartition: both engines remove exactly one partition,
// keep their key count, refuse when allow says no, and keep the epoch.
func TestEngineDropPartition(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e Engine) {
		out := make([]Outcome, 4)
		ops := []Op{put(3, "a", ver(1, 1), "x"), del(3, "b", ver(1, 1)), put(4, "a", ver(1, 1), "y"), put(^uint32(0), "z", ver(1, 1), "w")}
		if err := e.Apply(ops, out, true); err != nil {
			t.Fatal(err)
		}
		if n, err := e.DropPartition(3, func() bool { return false }); err != ErrDropRefused || n != 0 || e.Keys() != 4 {
			t.Fatalf("refused drop: %d %v, %d keys", n, err, e.Keys())
		}
		if n, err := e.DropPartition(3, func() bool { return true }); err != nil || n != 2 || e.Keys() != 2 {
			t.Fatalf("drop: %d %v, %d keys", n, err, e.Keys())
		}
		if n, err := e.DropPartition(^uint32(0), func() bool { return true }); err != nil || n != 1 || e.Keys() != 1 {
			t.Fatalf("drop of the last partition: %d %v, %d keys", n, err, e.Keys())
		}
		if _, ok, _ := e.Get(4, []byte("a"), nil); !ok {
			t.Fatal("partition 4 lost its key")
		}
		if err := e.SaveEpoch(EpochState{Epoch: 9, Ring: 3, Seen: 11}); err != nil {
			t.Fatal(err)
		}
		if got, err := e.LoadEpoch(); err != nil || got != (EpochState{Epoch: 9, Ring: 3, Seen: 11}) {
			t.Fatalf("LoadEpoch = %+v, %v", got, err)
		}
		if n, err := e.CollectGarbage(time.Now(), 100); err != nil || n != 0 {
			t.Fatalf("GC over the epoch record: %d, %v", n, err)
		}
	})
}

// A node whose committed ring is unknown (an epoch record from before
// fingerprints, loaded as ring 0) refuses a drop carrying ring 0 too, as
// the spec says: a drop needs the committed ring's exact fingerprint.
func TestDropNeedsAKnownRing(t *testing.T) {
	s := &Server{}
	s.committed.Store(5)
	s.seen.Store(5)
	if s.dropAllowed(protocol.ReplicaHeader{Epoch: 5, Ring: 0}) {
		t.Fatal("drop with ring 0 allowed on a node whose committed ring is 0")
	}
	s.ring.Store(42)
	if !s.dropAllowed(protocol.ReplicaHeader{Epoch: 5, Ring: 42}) {
		t.Fatal("drop with the committed ring refused")
	}
}
