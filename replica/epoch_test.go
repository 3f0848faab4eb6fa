package replica_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// fenceMidFlight holds every node, starts op, and once each node has the
// op's first send, switches the coordinator to next and commits next's
// epoch on every node before the sends arrive: exactly what a request
// planned just before a ring change commits meets.
func fenceMidFlight(t *testing.T, cl *cluster, next uint64, sends int, op func() error) error {
	t.Helper()
	for _, id := range cl.ids {
		cl.node(id).Hold()
	}
	done := make(chan error, 1)
	go func() { done <- op() }()
	for _, id := range cl.ids {
		cl.waitSends(id, sends)
	}
	if err := cl.c.SetRing(newRing(t, 3, next, cl.ids...)); err != nil {
		t.Fatal(err)
	}
	for _, id := range cl.ids {
		cl.node(id).SetEpoch(next)
		cl.node(id).Release()
	}
	return <-done
}

// TestStaleEpochRetriedOnNewerRing: every owner refuses the request's
// ring epoch; the coordinator already has the newer ring, so each kind of
// request is retried once on it and succeeds, and writes keep their version.
func TestStaleEpochRetriedOnNewerRing(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	var v protocol.Version
	err := fenceMidFlight(t, cl, 2, 1, func() (err error) { v, err = cl.put("k", "v", 0); return err })
	if err != nil {
		t.Fatalf("put across the ring change: %v", err)
	}
	if acked := countHolders(cl, "k", v); acked < 2 {
		t.Fatalf("%d owners hold the write: %s", acked, cl.stored("k"))
	}
	var got string
	err = fenceMidFlight(t, cl, 3, 3, func() (err error) { got, _, err = cl.get("k", 0); return err })
	if err != nil || got != "v" {
		t.Fatalf("get across the ring change: %q %v", got, err)
	}
	out := make([]protocol.ItemStatus, 2)
	err = fenceMidFlight(t, cl, 4, 5, func() error {
		cl.c.MPut(cl.ctx(), []protocol.KV{{Key: []byte("m1"), Value: []byte("1")}, {Key: []byte("m2"), Value: []byte("2")}}, 0, out)
		return nil
	})
	for i, o := range out {
		if err != nil || o.Status != protocol.StatusOK || countHolders(cl, []string{"m1", "m2"}[i], o.Version) < 2 {
			t.Fatalf("mput key %d across the ring change: %+v (%v)", i, o, err)
		}
	}
	_ = fenceMidFlight(t, cl, 5, 7, func() error {
		cl.c.MGet(cl.ctx(), [][]byte{[]byte("m1"), []byte("k")}, 0, out)
		return nil
	})
	if string(out[0].Value) != "1" || string(out[1].Value) != "v" || out[0].Status != protocol.StatusOK {
		t.Fatalf("mget across the ring change: %+v", out)
	}
	if s := cl.c.Stats(); s.EpochRetries != 4 || s.Behind != 0 || s.Refused != 0 {
		t.Fatalf("stats: %d retries, %d behind, %d refused; want 4, 0, 0", s.EpochRetries, s.Behind, s.Refused)
	}
}

// TestBehindDaemonIsRefused: the nodes committed a ring this daemon does
// not have. Writes are refused WRONG_EPOCH (failed: safe to retry), no
// owner is hinted, and the log says what to do.
func TestBehindDaemonIsRefused(t *testing.T) {
	var misses missLog
	cfg := replica.DefaultConfig()
	cfg.OnMiss = misses.hook
	cl := newCluster(t, cfg)
	for _, id := range cl.ids {
		cl.node(id).SetEpoch(7)
	}
	_, err := cl.put("k", "v", 0)
	if !errors.Is(err, replica.ErrWrongEpoch) || outcomeOf(err) != protocol.OutcomeFailed {
		t.Fatalf("put on a stale ring: %v", err)
	}
	if _, _, err := cl.get("k", 0); !errors.Is(err, replica.ErrWrongEpoch) {
		t.Fatalf("get on a stale ring: %v", err)
	}
	for _, id := range cl.ids {
		if _, ok := cl.node(id).Get("k"); ok {
			t.Fatalf("%s applied a stale write", id)
		}
	}
	if m := misses.list(); len(m) != 0 {
		t.Fatalf("fenced owners hinted: %v", m)
	}
	s := cl.c.Stats()
	if s.Behind != 2 || s.EpochRetries != 0 || s.MaxEpochSeen != 7 {
		t.Fatalf("stats: behind %d, retries %d, max epoch %d", s.Behind, s.EpochRetries, s.MaxEpochSeen)
	}
	if !strings.Contains(cl.logs.String(), "reload this daemon") {
		t.Fatalf("no clear log line:\n%s", cl.logs)
	}
}

// TestPendingMoveWritesCarryNextEpoch: while a ring change is pending,
// writes announce the next epoch (so no node drops a partition under the
// old one), and reads still the current one.
func TestPendingMoveWritesCarryNextEpoch(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig(), "a", "b", "c", "d")
	if err := cl.c.SetRing(newRing(t, 3, 1, "a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := cl.c.SetPending(ctx, newRing(t, 3, 2, "a", "b", "c", "d")); err != nil {
		t.Fatal(err)
	}
	cl.mustPut("k", "v")
	if e := cl.node("a").LastHeader().Epoch; e != 2 {
		t.Fatalf("dual write sent epoch %d, want 2", e)
	}
	if _, _, err := cl.get("k", 3); err != nil {
		t.Fatal(err)
	}
	if e := cl.node("a").LastHeader().Epoch; e != 1 {
		t.Fatalf("read sent epoch %d, want 1", e)
	}
}

func countHolders(cl *cluster, key string, v protocol.Version) int {
	n := 0
	for _, id := range cl.ids {
		if cl.has(id, key, v) {
			n++
		}
	}
	return n
}
