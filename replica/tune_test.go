package replica_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// New default quorums apply to the next request; explicit quorums are
// still checked against N; an invalid change is refused whole.
func TestSetTunablesQuorums(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	cl.node("c").SetUp(false)
	if _, err := cl.put("k", "v", 0); err != nil {
		t.Fatalf("W=2 with one owner down: %v", err)
	}
	tun := cl.c.Tunables()
	tun.W, tun.R = 3, 3
	if err := cl.c.SetTunables(tun); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.put("k", "v", 0); !errors.Is(err, replica.ErrUnavailable) {
		t.Fatalf("default W=3 with one owner down: %v", err)
	}
	if _, _, err := cl.get("k", 0); !errors.Is(err, replica.ErrUnavailable) {
		t.Fatalf("default R=3 with one owner down: %v", err)
	}
	if _, err := cl.put("k", "v", 2); err != nil {
		t.Fatalf("explicit w=2: %v", err)
	}
	for _, bad := range []replica.Tunables{
		{W: 4, R: 2, Timeout: time.Second}, {W: 2, R: 0, Timeout: time.Second}, {W: 2, R: 2},
	} {
		if err := cl.c.SetTunables(bad); !errors.Is(err, replica.ErrConfig) {
			t.Errorf("SetTunables(%+v): %v, want ErrConfig", bad, err)
		}
	}
	if got := cl.c.Tunables(); got != tun {
		t.Fatalf("a refused change changed the tunables: %+v, want %+v", got, tun)
	}
}

// A request keeps the tunables it started with: a PUT admitted under W=3
// still needs three acks after W drops to 1 in the middle of its fan-out.
func TestSetTunablesSparesRequestsInFlight(t *testing.T) {
	cfg := replica.DefaultConfig()
	cfg.W = 3
	cl, h := newHookCluster(t, cfg)
	sent, release := make(chan struct{}), make(chan struct{})
	h.before = func(id string, _ []protocol.Item) error {
		if id != "c" {
			return nil
		}
		close(sent)
		<-release
		return errors.New("c failed")
	}
	done := make(chan error, 1)
	go func() {
		_, err := cl.put("k", "v", 0)
		done <- err
	}()
	<-sent
	tun := cl.c.Tunables()
	tun.W = 1
	if err := cl.c.SetTunables(tun); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err == nil || outcomeOf(err) != protocol.OutcomeUnknown {
		t.Fatalf("PUT admitted under W=3 with one owner failing: %v, want a failure with unknown outcome", err)
	}
	h.mu.Lock()
	h.before = nil
	h.mu.Unlock()
	if _, err := cl.put("k2", "v", 0); err != nil {
		t.Fatalf("PUT after W=1: %v", err)
	}
}

// Timeout bounds a request without a deadline from the next one on: the
// deadline sent to the owners is counted from it.
func TestSetTunablesTimeout(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	tun := cl.c.Tunables()
	tun.Timeout = 50 * time.Second
	if err := cl.c.SetTunables(tun); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.c.Put(context.Background(), []byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if ms := cl.node("a").LastHeader().DeadlineMs; ms <= 40_000 || ms > 50_000 {
		t.Fatalf("deadline %d ms on the wire, want (40000, 50000] from the new Timeout", ms)
	}
}
