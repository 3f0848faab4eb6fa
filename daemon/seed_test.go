package daemon

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
	"github.com/distridata/distridata/storage"
)

// Start seeds the clock from the nodes' HELLO replies before it returns:
// with nodes an hour ahead (as after a daemon restart on a host whose
// clock stepped back), the daemon's clock is past theirs at once, so no
// version it assigns can be older than one they store.
func TestStartSeedsClockFromNodes(t *testing.T) {
	ahead := time.Hour
	cfg := testConfig()
	cfg.Ring.Partitions = 1 << 8
	for i := 1; i <= 3; i++ {
		sc := storage.DefaultConfig()
		sc.Engine = storage.EngineMemory
		sc.ID = uint32(i)
		sc.Clock = func() time.Time { return time.Now().Add(ahead) }
		s, err := storage.Start(sc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		cfg.Nodes = append(cfg.Nodes, ring.Node{ID: strconv.Itoa(i), Addr: s.Addr().String(), Weight: 1})
	}
	d, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	seeded := protocol.Version{TS: d.clock.Last()}.WallTime()
	if lead := time.Until(seeded); lead < ahead-time.Minute {
		t.Fatalf("clock at Start is only %v ahead", lead)
	}
}
