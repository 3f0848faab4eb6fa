package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/distridata/distridata/protocol"
)

// quietLogger discards logs: fault tests provoke loud errors on purpose.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestPebblePowerLoss simulates a power cut with a filesystem that keeps
// only what was fsynced: every write acknowledged by a synced Apply must
// survive, and (to prove the simulation bites) unsynced ones are lost.
func TestPebblePowerLoss(t *testing.T) {
	fs := vfs.NewCrashableMem()
	e, err := OpenPebble("/db", PebbleOptions{FS: fs, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	const batches, perBatch = 20, 50
	for b := range batches {
		ops := make([]Op, perBatch)
		for i := range ops {
			ops[i] = put(uint32(i%4), fmt.Sprintf("synced-%d-%d", b, i), ver(uint64(1000+b), 1), "v")
		}
		if err := e.Apply(ops, make([]Outcome, len(ops)), true); err != nil {
			t.Fatal(err)
		}
	}
	unsynced := make([]Op, 100)
	for i := range unsynced {
		unsynced[i] = put(0, fmt.Sprintf("unsynced-%d", i), ver(5000, 1), "v")
	}
	if err := e.Apply(unsynced, make([]Outcome, len(unsynced)), false); err != nil {
		t.Fatal(err)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e2, err := OpenPebble("/db", PebbleOptions{FS: crashed, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	for b := range batches {
		for i := range perBatch {
			got, found, err := e2.Get(uint32(i%4), []byte(fmt.Sprintf("synced-%d-%d", b, i)), nil)
			if err != nil || !found || got.Version != ver(uint64(1000+b), 1) {
				t.Fatalf("acknowledged key synced-%d-%d lost: found=%v version=%v err=%v", b, i, found, got.Version, err)
			}
		}
	}
	lost := 0
	for _, op := range unsynced {
		if _, found, _ := e2.Get(0, op.Key, nil); !found {
			lost++
		}
	}
	if lost == 0 {
		t.Fatal("no unsynced write was lost: the crash simulation does not drop unsynced data")
	}
	if e2.Keys() != int64(batches*perBatch+len(unsynced)-lost) {
		t.Errorf("Keys = %d after recovery, want %d", e2.Keys(), batches*perBatch+len(unsynced)-lost)
	}
}

// syncFailures makes every sync of the WAL fail while toggled on.
func syncFailures() *errorfs.Toggle {
	return &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			if strings.HasSuffix(op.Path, ".log") {
				return errorfs.ErrInjected
			}
		}
		return nil
	})}
}

// TestPebbleSyncFailureIsFatal: pebble reports a failed WAL sync through
// its logger and returns nil from Apply; the engine must turn that into an
// error, and refuse every later write, while reads keep working.
func TestPebbleSyncFailureIsFatal(t *testing.T) {
	inj := syncFailures()
	e, err := OpenPebble("/db", PebbleOptions{FS: errorfs.Wrap(vfs.NewMem(), inj), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	applyOne(t, e, put(1, "before", ver(1, 1), "v"))
	inj.On()
	err = e.Apply([]Op{put(1, "during", ver(2, 1), "v")}, make([]Outcome, 1), true)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Apply with a failing sync = %v, want ErrFailed", err)
	}
	inj.Off()
	err = e.Apply([]Op{put(1, "after", ver(3, 1), "v")}, make([]Outcome, 1), true)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Apply after a failed sync = %v, want ErrFailed (no retry)", err)
	}
	if err := e.Sync(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Sync after a failed sync = %v, want ErrFailed", err)
	}
	if _, found, err := e.Get(1, []byte("before"), nil); err != nil || !found {
		t.Fatalf("read after failure: found=%v err=%v", found, err)
	}
}

// TestServerFailStopOnSyncError runs the real pebble engine through the
// server on a filesystem whose WAL syncs start failing: the write caught
// by the failure and every later one are answered INTERNAL (never OK),
// even after the disk "recovers"; reads are still served.
func TestServerFailStopOnSyncError(t *testing.T) {
	inj := syncFailures()
	cfg := testConfig()
	cfg.Engine, cfg.Dir, cfg.Pebble.FS = EnginePebble, "/db", errorfs.Wrap(vfs.NewMem(), inj)
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := dialHello(t, s.Addr(), "")
	if f := c.rpc(rput(1, hdr, 1, "before", ver(1, 1), "v")); f.Status != protocol.StatusOK {
		t.Fatalf("write before the fault: %v", f.Status)
	}
	if s.FailErr() != nil {
		t.Fatalf("FailErr before the fault = %v", s.FailErr())
	}
	inj.On()
	if f := c.rpc(rput(2, hdr, 1, "during", ver(2, 1), "v")); f.Status != protocol.StatusInternal {
		t.Fatalf("write during the fault: %v, want INTERNAL", f.Status)
	}
	inj.Off()
	if f := c.rpc(rdel(3, hdr, 1, "before", ver(3, 1))); f.Status != protocol.StatusInternal {
		t.Fatalf("write after the fault: %v, want INTERNAL", f.Status)
	}
	if _, r := result(t, c.rpc(rget(4, 1, "before"))); r.Status != protocol.StatusOK || r.Version != ver(1, 1) {
		t.Fatalf("read after the fault: %+v", r)
	}
	if !s.Failed() {
		t.Fatal("node not failed")
	}
	select {
	case <-s.FailStop():
	default:
		t.Fatal("FailStop not closed after the fault")
	}
	if err := s.FailErr(); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("FailErr = %v, want the injected sync error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx) // may report the engine's error; must not hang or panic
}

// TestPebbleLogIsRateLimited: pebble retries a failing flush at once, so
// its error messages must not reach the log one per retry.
func TestPebbleLogIsRateLimited(t *testing.T) {
	var buf strings.Builder
	s := &fatalSink{log: slog.New(slog.NewTextHandler(&buf, nil))}
	for range 1000 {
		s.Errorf("background error: %d", 1)
		s.Fatalf("MANIFEST write failed: %d", 2)
	}
	if err := s.load(); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "MANIFEST write failed") {
		t.Fatalf("recorded error %v", err)
	}
	// One fatal line, and at most one warning per second of this loop.
	if lines := strings.Count(buf.String(), "\n"); lines > 3 {
		t.Fatalf("%d log lines for 2000 repeated errors:\n%.500s", lines, buf.String())
	}
	if !strings.Contains(buf.String(), "level=ERROR") {
		t.Fatalf("the fatal error was not logged:\n%s", buf.String())
	}
}

// fullFS reports avail bytes free; the rest is the wrapped filesystem.
type fullFS struct {
	vfs.FS
	avail uint64
}

func (f fullFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	return vfs.DiskUsage{AvailBytes: f.avail, TotalBytes: 1 << 30}, nil
}

// TestPebbleRefusesToOpenOnAFullDisk: pebble's Open would retry the flush
// of the replayed WAL forever on a full disk; OpenPebble must refuse at
// once with ErrNoSpace, and open once there is room.
func TestPebbleRefusesToOpenOnAFullDisk(t *testing.T) {
	mem := vfs.NewMem()
	e, err := OpenPebble("/db", PebbleOptions{FS: mem, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	applyOne(t, e, put(1, "k", ver(1, 1), strings.Repeat("v", 64<<10)))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPebble("/db", PebbleOptions{FS: fullFS{mem, openHeadroom + 32<<10}, Logger: quietLogger()}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("open with less room than the WAL = %v, want ErrNoSpace", err)
	}
	e, err = OpenPebble("/db", PebbleOptions{FS: fullFS{mem, openHeadroom + 1<<20}, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("open with room: %v", err)
	}
	if _, found, err := e.Get(1, []byte("k"), nil); err != nil || !found {
		t.Fatalf("read after reopening: found=%v err=%v", found, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}
