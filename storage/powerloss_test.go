package storage

import (
	"fmt"
	"net"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/distridata/distridata/protocol"
)

// writeAcked pipelines n RPUTs over conns connections and waits until
// every one is acknowledged OK (or fails the test).
func writeAcked(t *testing.T, addr net.Addr, conns, n int) {
	t.Helper()
	per := n / conns
	cs := make([]*testConn, conns)
	for i := range cs {
		cs[i] = dialHello(t, addr, "")
		var frames []byte
		for j := range per {
			k := i*per + j
			frames = append(frames, rput(uint64(k), hdr, uint32(k%16), fmt.Sprintf("key-%d", k), ver(uint64(1000+k), 7), "value")...)
		}
		cs[i].send(frames)
	}
	for _, c := range cs {
		for range per {
			if f := c.read(); f.Status != protocol.StatusOK {
				t.Fatalf("id %d: %v", f.ID, f.Status)
			}
		}
	}
}

// countSurvivors restarts a node on fs and counts the keys of writeAcked
// that are present with their version.
func countSurvivors(t *testing.T, fs vfs.FS, n int) int {
	t.Helper()
	cfg := testConfig()
	cfg.Engine, cfg.Dir, cfg.Pebble.FS = EnginePebble, "/db", fs
	s := startServer(t, cfg, nil)
	ok := readAcked(t, s.Addr(), n)
	shutdown(t, s)
	return ok
}

// readAcked counts the keys of writeAcked present with their version.
func readAcked(t *testing.T, addr net.Addr, n int) int {
	t.Helper()
	c := dialHello(t, addr, "")
	var frames []byte
	for k := range n {
		frames = append(frames, rget(uint64(k), uint32(k%16), fmt.Sprintf("key-%d", k))...)
	}
	c.send(frames)
	ok := 0
	for range n {
		f := c.read()
		_, r := result(t, f)
		if r.Status == protocol.StatusOK && r.Version == ver(1000+f.ID, 7) {
			ok++
		}
	}
	return ok
}

// TestServerPowerLoss writes through the whole server with sync=always,
// cuts power (a filesystem clone holding only fsynced data), restarts and
// finds every acknowledged write. The sync=none control must lose some,
// which shows that the simulated power cut really drops unsynced data.
func TestServerPowerLoss(t *testing.T) {
	const n = 2000
	for _, mode := range []string{SyncAlways, SyncNone} {
		t.Run(mode, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			cfg := testConfig()
			cfg.Engine, cfg.Dir, cfg.Sync, cfg.Pebble.FS = EnginePebble, "/db", mode, fs
			s, err := Start(cfg)
			if err != nil {
				t.Fatal(err)
			}
			writeAcked(t, s.Addr(), 4, n)
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
			shutdown(t, s)
			got := countSurvivors(t, crashed, n)
			switch {
			case mode == SyncAlways && got != n:
				t.Fatalf("sync=always: %d of %d acknowledged writes survived the power loss", got, n)
			case mode == SyncNone && got == n:
				t.Fatalf("sync=none: all %d writes survived: the simulated power loss drops nothing", n)
			}
			t.Logf("%s: %d of %d acknowledged writes survived", mode, got, n)
		})
	}
}
