package daemon_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/internal/clustertest"
	"github.com/distridata/distridata/link"
	"github.com/distridata/distridata/repair"
	"github.com/distridata/distridata/storage"
)

// Every setting link.Pool and the repair components can change while
// running is one a reload applies.
func TestLiveFieldsCoverTunables(t *testing.T) {
	live := daemon.LiveFields()
	for prefix, typ := range map[string]reflect.Type{
		"Link.": reflect.TypeFor[link.Tunables](), "Repair.": reflect.TypeFor[repair.Tunables](),
	} {
		for f := range typ.Fields() {
			if !slices.Contains(live, prefix+f.Name) {
				t.Errorf("%s%s can change live but Reload does not apply it", prefix, f.Name)
			}
		}
	}
}

// A reload changes the token the links present: after it, a node
// restarted with the new token is reached again, so writes at W=3
// succeed. With the token of the start kept, the node refuses every
// redial and W=3 never succeeds.
func TestReloadLinkToken(t *testing.T) {
	cl, cfg := startReloadable(t, clustertest.Options{W: 3, R: 1, Token: "old",
		Daemon: func(c *daemon.Config) { c.Link.BackoffMax = 100 * time.Millisecond }})
	c := cl.Client()
	if err := putEventually(t, c, "v1"); err != nil {
		t.Fatalf("W=3 write before the reload: %v", err)
	}
	next := cfg
	next.Link.Token = "new"
	if err := cl.Daemon.Reload(next); err != nil {
		t.Fatal(err)
	}
	n := cl.Nodes()[0]
	cl.Kill(n)
	cl.RestartWith(n, func(sc *storage.Config) { sc.Token = "new" })
	if err := putEventually(t, c, "v2"); err != nil {
		t.Fatalf("W=3 write after the link token changed: %v", err)
	}
}

// A reload gives anti-entropy a pace: a daemon started with the
// background pass off starts checking partitions.
func TestReloadAntiEntropyPace(t *testing.T) {
	cl, cfg := startReloadable(t, clustertest.Options{
		Daemon: func(c *daemon.Config) { c.Repair.PartitionsPerSec = 0 }})
	next := cfg
	next.Repair.PartitionsPerSec = 1000
	next.Repair.RepairItemsPerSec = 500 // a throttle, live too
	if err := cl.Daemon.Reload(next); err != nil {
		t.Fatal(err)
	}
	ae := cl.Daemon.AntiEntropy()
	for deadline := time.Now().Add(15 * time.Second); ae.Stats().Checked == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("anti-entropy checked nothing after the reload gave it a pace")
		}
	}
}
