package daemon

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/repair"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/ring"
)

// A change of placement rule between runs (here the ring's slack, which
// changes the table for the same membership exactly as a release that
// balances differently does) must not strand data: the daemon serves the
// table the data was written under, saved in its data dir, and moves the
// data to the new table like a membership change. Before, it placed keys
// by the new table at once, where the moved partitions' data was not.
func TestPlacementChangeMovesData(t *testing.T) {
	cfg := testConfig()
	cfg.Ring.Partitions = 1 << 6 // 24 replicas per node: capacities bind
	cfg.Nodes = memoryNodes(t, 1, 1, 1, 1, 1, 1, 1, 1)
	cfg.Repair = repair.DefaultConfig()
	cfg.Repair.Dir = t.TempDir()
	cfg.Repair.PartitionsPerSec = 0 // no background anti-entropy: only the move may copy
	before, after := cfg, cfg
	before.Ring.Slack = 1
	rcfg := after.Ring
	rcfg.Replicas = cfg.Replica.N
	want, err := ring.New(rcfg, cfg.Nodes, ringEpoch+1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	d, err := Start(before)
	if err != nil {
		t.Fatal(err)
	}
	old := d.Ring()
	if len(ring.Diff(old, want)) == 0 {
		t.Fatal("precondition: the two slacks place the membership alike")
	}
	versions := map[string]protocol.Version{}
	for i := range 300 {
		key := "k" + strconv.Itoa(i)
		v, err := d.coord.Put(ctx, []byte(key), []byte("v"+key), 0)
		if err != nil {
			t.Fatal(err)
		}
		versions[key] = v
	}
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	d, err = Start(after)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	for !slices.Equal(d.Ring().Table(), want.Table()) {
		if ctx.Err() != nil {
			t.Fatalf("still on the old placement at epoch %d: the move did not commit", d.Ring().Epoch())
		}
		time.Sleep(5 * time.Millisecond)
	}
	want = d.Ring() // the new placement, at whatever epoch it is served
	for key, v := range versions {
		p := want.Partition([]byte(key))
		for _, o := range want.Owners(p) {
			id := want.Node(o).ID
			done := make(chan replica.Reply, 1)
			d.pool.Send(ctx, id, protocol.ReplicaHeader{Epoch: want.Epoch(), Ring: want.Hash()},
				[]protocol.Item{{Kind: protocol.ItemGet, Partition: p, Key: []byte(key)}},
				func(r replica.Reply) { done <- r })
			r := <-done
			if r.Err != nil || len(r.Results) != 1 || r.Results[0].Status != protocol.StatusOK || r.Results[0].Version != v {
				t.Fatalf("key %s on new owner %s: %+v, want version %v", key, id, r, v)
			}
		}
	}
}

// An upgrade from a release with the proportional rule, whose table this
// release builds differently (weights 1, 1, 1, 2, 4), with no saved state.
// committed: the nodes committed the old ring; the daemon rebuilds it under
// the earlier rule (the fingerprints match), serves it, and moves the data
// to the latest rule. Before, no ring it could build matched, and every
// node refused it. never committed: nothing tells the daemon which rule
// wrote the data, so the operator says so (ring.rule = 1) and the daemon
// moves the data the same way.
func TestUpgradeFromProportionalRuleMovesData(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(map[bool]string{true: "committed", false: "never committed"}[committed], func(t *testing.T) {
			upgradeFromProportional(t, committed)
		})
	}
}

func upgradeFromProportional(t *testing.T, committed bool) {
	cfg := testConfig()
	cfg.Ring.Partitions = 1 << 10
	cfg.Nodes = memoryNodes(t, 1, 1, 1, 2, 4)
	rcfg := cfg.Ring
	rcfg.Replicas = cfg.Replica.N
	legacyCfg := rcfg
	legacyCfg.Rule = ring.RuleProportional
	epoch := uint64(ringEpoch)
	if committed {
		epoch = 2
	}
	old, err := ring.New(legacyCfg, cfg.Nodes, epoch)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ring.New(rcfg, cfg.Nodes, epoch+1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ring.Diff(old, want)) == 0 {
		t.Fatal("precondition: the rules place the membership alike")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The earlier release's cluster: data on the old ring's owners, and the
	// old ring committed at epoch 2 on every node.
	d, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hdr := protocol.ReplicaHeader{Epoch: old.Epoch(), Ring: old.Hash()}
	send := func(id string, it protocol.Item) replica.Reply {
		done := make(chan replica.Reply, 1)
		d.pool.Send(ctx, id, hdr, []protocol.Item{it}, func(r replica.Reply) { done <- r })
		return <-done
	}
	versions := map[string]protocol.Version{}
	for i := range 200 {
		key := "k" + strconv.Itoa(i)
		p, v := old.Partition([]byte(key)), protocol.Version{TS: uint64(1+i) << 16, Origin: 7}
		for _, o := range old.Owners(p) {
			r := send(old.Node(o).ID, protocol.Item{Kind: protocol.ItemPut, Partition: p, Key: []byte(key), Version: v, Value: []byte("v")})
			if r.Err != nil || r.Results[0].Status != protocol.StatusOK {
				t.Fatalf("seeding %s: %+v", key, r)
			}
		}
		versions[key] = v
	}
	if committed {
		for _, n := range cfg.Nodes {
			if _, err := d.pool.CommitEpoch(ctx, n.ID, protocol.EpochCommit{ReplicaHeader: hdr}); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		cfg.Ring.Rule = ring.RuleProportional // the operator's ring.rule = 1
	}
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	d, err = Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	for !slices.Equal(d.Ring().Table(), want.Table()) {
		if ctx.Err() != nil {
			t.Fatalf("still on epoch %d (hash %x), not the latest rule's table", d.Ring().Epoch(), d.Ring().Hash())
		}
		time.Sleep(5 * time.Millisecond)
	}
	want = d.Ring()
	hdr = protocol.ReplicaHeader{Epoch: want.Epoch(), Ring: want.Hash()}
	for key, v := range versions {
		p := want.Partition([]byte(key))
		for _, o := range want.Owners(p) {
			r := send(want.Node(o).ID, protocol.Item{Kind: protocol.ItemGet, Partition: p, Key: []byte(key)})
			if r.Err != nil || r.Results[0].Status != protocol.StatusOK || r.Results[0].Version != v {
				t.Fatalf("key %s on new owner %s: %+v, want version %v", key, want.Node(o).ID, r, v)
			}
		}
	}
}
