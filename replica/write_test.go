package replica_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/replica/replicatest"
)

func TestPutReachesEveryOwner(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	v := cl.mustPut("k", "v1")
	if v.Origin != 0 || v.TS == 0 {
		t.Fatalf("version %+v: want TS set, origin 0", v)
	}
	for _, id := range cl.ids {
		if !cl.has(id, "k", v) {
			t.Fatalf("node %s lacks the write: %s", id, cl.stored("k"))
		}
	}
	e, _ := cl.node("a").Get("k")
	if want := cl.c.Ring().Partition([]byte("k")); e.Partition != want {
		t.Fatalf("stored under partition %d, want %d", e.Partition, want)
	}
}

func TestPutWithOneOwnerDown(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	cl.node("c").SetUp(false)
	v, err := cl.put("k", "v", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !cl.has("a", "k", v) || !cl.has("b", "k", v) {
		t.Fatalf("stored: %s", cl.stored("k"))
	}
	if n := cl.node("c").Counts().Sends; n != 0 {
		t.Fatalf("a down owner got %d sends, want 0", n)
	}
}

func TestPutWithTwoOwnersDownIsUnavailable(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	cl.node("b").SetUp(false)
	cl.node("c").SetUp(false)
	_, err := cl.put("k", "v", 0)
	if !errors.Is(err, replica.ErrUnavailable) || outcomeOf(err) != protocol.OutcomeFailed {
		t.Fatalf("err %v (outcome %v), want ErrUnavailable, failed", err, outcomeOf(err))
	}
	if n := cl.node("a").Counts().Sends; n != 0 {
		t.Fatalf("sent %d requests although the quorum was known unreachable", n)
	}
	if s := cl.c.Stats(); s.Unavailable != 1 {
		t.Fatalf("stats.Unavailable = %d, want 1", s.Unavailable)
	}
}

// Replicas that fail after the request was sent leave the outcome unknown,
// never failed: the write may have landed there.
func TestPutFailuresAfterSending(t *testing.T) {
	linkReset := errors.New("link: connection reset")
	for _, tc := range []struct {
		name  string
		fault replicatest.Fault
		want  error
	}{
		{"link error", replicatest.Fault{Err: linkReset}, replica.ErrPartial},
		{"link error after apply", replicatest.Fault{Err: linkReset, Applied: true}, replica.ErrPartial},
		{"internal", replicatest.Fault{Status: protocol.StatusInternal}, replica.ErrPartial},
		{"busy", replicatest.Fault{Status: protocol.StatusBusy}, replica.ErrPartial},
		{"dropped", replicatest.Fault{Drop: true}, replica.ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := newCluster(t, replica.DefaultConfig())
			cl.node("b").SetFault(tc.fault)
			cl.node("c").SetFault(tc.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			v, err := cl.c.Put(ctx, []byte("k"), []byte("v"), 0)
			if !errors.Is(err, tc.want) || outcomeOf(err) != protocol.OutcomeUnknown {
				t.Fatalf("err %v (outcome %v), want %v, unknown", err, outcomeOf(err), tc.want)
			}
			if !cl.has("a", "k", v) {
				t.Fatalf("the healthy replica lacks the write: %s", cl.stored("k"))
			}
			if tc.fault.Applied && !cl.has("b", "k", v) {
				t.Fatalf("fault said applied: %s", cl.stored("k"))
			}
		})
	}
}

// When every replica refuses before applying anything, the write is failed
// (safe to retry), with the most actionable refusal.
func TestPutRefusedEverywhere(t *testing.T) {
	busy := replicatest.Fault{Status: protocol.StatusBusy}
	epoch := replicatest.Fault{Status: protocol.StatusWrongEpoch}
	bad := replicatest.Fault{Status: protocol.StatusBadRequest}
	queueFull := replicatest.Fault{Err: protocol.NewError(protocol.StatusBusy, "link: queue full")}
	for _, tc := range []struct {
		name    string
		a, b, c replicatest.Fault
		want    error
	}{
		{"all busy", busy, busy, busy, replica.ErrBusy},
		{"link busy before sending", queueFull, busy, queueFull, replica.ErrBusy},
		{"one stale epoch", busy, epoch, bad, replica.ErrWrongEpoch},
		{"bad request", bad, bad, busy, replica.ErrRejected},
		{"one unknown spoils it", busy, busy, replicatest.Fault{Status: protocol.StatusInternal}, replica.ErrPartial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := newCluster(t, replica.DefaultConfig())
			cl.node("a").SetFault(tc.a)
			cl.node("b").SetFault(tc.b)
			cl.node("c").SetFault(tc.c)
			_, err := cl.put("k", "v", 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			wantOutcome := protocol.OutcomeFailed
			if tc.want == replica.ErrPartial {
				wantOutcome = protocol.OutcomeUnknown
			}
			if got := outcomeOf(err); got != wantOutcome {
				t.Fatalf("outcome %v, want %v", got, wantOutcome)
			}
		})
	}
}

func TestPutFailureLogsEachReplicaOnce(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	cl.node("b").SetFault(replicatest.Fault{Err: errors.New("link: reset by peer")})
	cl.node("c").SetFault(replicatest.Fault{Status: protocol.StatusInternal})
	for range 3 { // rate limited: one line per second
		if _, err := cl.put("k", "v", 0); !errors.Is(err, replica.ErrPartial) {
			t.Fatalf("err %v, want ErrPartial", err)
		}
	}
	logs := cl.logs.String()
	if n := strings.Count(logs, "quorum missed"); n != 1 {
		t.Fatalf("%d log lines, want 1 (rate-limited):\n%s", n, logs)
	}
	for _, want := range []string{"a=OK", "b=INTERNAL(link: reset by peer)", "c=INTERNAL", "status=PARTIAL", "op=put"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	if s := cl.c.Stats(); s.Partial != 3 || s.ReplicaFailures != 6 {
		t.Fatalf("stats %+v: want 3 partial, 6 replica failures", s)
	}
}

// A held (arbitrarily slow) replica does not delay a W=2 write; once
// released it still applies the write it was sent, although the caller
// has long stopped waiting for its answer.
func TestSlowReplicaDoesNotSlowWrite(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	cl.node("c").Hold()
	start := time.Now()
	v, err := cl.put("k", "v", 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("W=2 put took %v with one replica held", d)
	}
	if cl.has("c", "k", v) {
		t.Fatal("held replica applied before release")
	}
	cl.node("c").Release()
	eventually(t, "the held replica to apply", func() bool { return cl.has("c", "k", v) })
}

func TestPutWithAllReplicasHeldTimesOut(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	cl.node("b").Hold()
	cl.node("c").Hold()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := cl.c.Put(ctx, []byte("k"), []byte("v"), 0)
	if !errors.Is(err, replica.ErrTimeout) || statusOf(err) != protocol.StatusTimeout {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	if s := cl.c.Stats(); s.Timeouts != 1 {
		t.Fatalf("stats.Timeouts = %d, want 1", s.Timeouts)
	}
}

func TestQuorumOverride(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	cl.node("c").SetUp(false)
	if _, err := cl.put("k", "v", 3); !errors.Is(err, replica.ErrUnavailable) {
		t.Fatalf("w=3 with one down: %v, want ErrUnavailable", err)
	}
	cl.node("b").SetUp(false)
	v, err := cl.put("k", "v", 1)
	if err != nil {
		t.Fatalf("w=1 with two down: %v", err)
	}
	if got, gv, err := cl.get("k", 1); err != nil || got != "v" || gv != v {
		t.Fatalf("r=1 read: %q %+v %v", got, gv, err)
	}
	if _, _, err := cl.get("k", 2); !errors.Is(err, replica.ErrUnavailable) {
		t.Fatalf("r=2 with two down: %v, want ErrUnavailable", err)
	}
	for _, q := range []int{-1, 4, 255} {
		if _, err := cl.put("k", "v", q); !errors.Is(err, protocol.ErrBadQuorum) || statusOf(err) != protocol.StatusBadRequest {
			t.Fatalf("w=%d: %v, want ErrBadQuorum", q, err)
		}
		if _, _, err := cl.get("k", q); !errors.Is(err, protocol.ErrBadQuorum) {
			t.Fatalf("r=%d: %v, want ErrBadQuorum", q, err)
		}
	}
}

func TestBadKeys(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	if _, err := cl.c.Put(cl.ctx(), nil, []byte("v"), 0); !errors.Is(err, protocol.ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
	if _, _, err := cl.c.Get(cl.ctx(), make([]byte, 1<<16), 0); !errors.Is(err, protocol.ErrKeyTooLarge) {
		t.Fatalf("64 KiB key: %v", err)
	}
}

// A replica holding a newer version answers SUPERSEDED. That is an ack (the
// write is ordered before the newer one by LWW), and the coordinator's
// clock jumps past the newer version, so its next write wins.
func TestSupersededCountsAsAckAndClockCatchesUp(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	future := protocol.Version{TS: cl.clock.Now() + 1<<40, Origin: 9}
	cl.node("a").Set("k", replicatest.Entry{Version: future, Value: []byte("future")})
	cl.node("b").Set("k", replicatest.Entry{Version: future, Value: []byte("future")})
	cl.node("c").Hold() // only the two superseding replicas can ack
	v, err := cl.put("k", "mine", 0)
	if err != nil {
		t.Fatalf("superseded acks: %v", err)
	}
	if !future.Newer(v) {
		t.Fatalf("our version %+v should be older than %+v", v, future)
	}
	if cl.clock.Last() < future.TS {
		t.Fatalf("clock %d did not observe the newer version %d", cl.clock.Last(), future.TS)
	}
	if s := cl.c.Stats(); s.Superseded != 2 {
		t.Fatalf("stats.Superseded = %d, want 2", s.Superseded)
	}
	v2, err := cl.put("k", "next", 0)
	if err != nil || !v2.Newer(future) {
		t.Fatalf("next put %+v, %v: want a version after %+v", v2, err, future)
	}
	if !cl.has("a", "k", v2) || !cl.has("b", "k", v2) {
		t.Fatalf("next put did not win: %s", cl.stored("k"))
	}
}

func TestOriginBreaksTies(t *testing.T) {
	cfg := replica.DefaultConfig()
	cfg.Origin = 7
	cl := newCluster(t, cfg)
	if v := cl.mustPut("k", "v"); v.Origin != 7 {
		t.Fatalf("origin %d, want 7", v.Origin)
	}
}

func TestDeadlineTravelsInHeader(t *testing.T) {
	cfg := replica.DefaultConfig()
	cfg.Timeout = 700 * time.Millisecond
	cl := newCluster(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := cl.c.Put(ctx, []byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if ms := cl.node("a").LastHeader().DeadlineMs; ms < 200 || ms > 300 {
		t.Fatalf("deadline %d ms on the wire, want (200, 300]", ms)
	}
	if _, err := cl.c.Put(context.Background(), []byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if ms := cl.node("a").LastHeader().DeadlineMs; ms < 600 || ms > 700 {
		t.Fatalf("deadline %d ms without a ctx deadline, want (600, 700] from Config.Timeout", ms)
	}
	if e := cl.node("a").LastHeader().Epoch; e != 1 {
		t.Fatalf("epoch %d, want 1", e)
	}
	if s := cl.c.Stats(); s.MaxEpochSeen != 0 {
		t.Fatalf("MaxEpochSeen %d while every node is on our epoch", s.MaxEpochSeen)
	}
	cl.node("b").SetEpoch(5) // b has seen a newer ring than ours
	cl.mustPut("k", "v")
	if s := cl.c.Stats(); s.MaxEpochSeen != 5 {
		t.Fatalf("MaxEpochSeen %d, want 5", s.MaxEpochSeen)
	}
}
