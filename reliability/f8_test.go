package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/internal/clustertest"
	"github.com/distridata/distridata/internal/systest"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/storage"
)

// f8MemTable holds a whole F8 run's writes (about 5 MiB per node).
const f8MemTable = 32 << 20

// F8: storage nodes lose power mid-traffic, one at a time (fewer than W
// replicas of any key at once), each losing everything it had not
// fsynced. The cluster runs in process (clustertest), each node's pebble
// on a crash-cloneable memory filesystem: `kill -9` keeps the page cache
// and so cannot drop unsynced data. Every node is cut once, in a seeded
// order, and restarted on the crash clone of its disk; a seeded share of
// the unsynced blocks survives each cut, as when a disk cache flushed
// some. Checked: no acknowledged write is lost (R=2 read-back), the
// register history is linearizable, and after an anti-entropy pass every
// acknowledged key is on all of its owners with its version. Rolling the
// cut over all three owners makes the check bite: a node that acked
// before its fsync would lose the same writes on each owner in turn.
func TestF8PowerLoss(t *testing.T) {
	needFull(t)
	seed := seedFor(t)
	rng := newRand(seed)
	const nodes = 3
	disks := make([]*powerFS, nodes)
	for i := range disks {
		disks[i] = newPowerFS(vfs.NewCrashableMem())
	}
	cl := clustertest.Start(t, clustertest.Options{
		Nodes: nodes, Engine: storage.EnginePebble, Sync: storage.SyncAlways,
		Storage: func(cfg *storage.Config) {
			cfg.Pebble.FS = disks[cfg.ID-1]
			// No memtable flush in the run: a flush syncs an sstable, which
			// would make data durable behind the WAL's back and hide a node
			// that acknowledges before its WAL sync.
			cfg.Pebble.MemTableSize = f8MemTable
		},
		Daemon: func(cfg *daemon.Config) { cfg.Repair.Dir = filepath.Join(t.TempDir(), "hints") },
	})
	var cuts []string
	res := load{Addr: cl.Addr(), Seed: seed, Duration: 7 * time.Second, MaxOps: 20000}.run(t, func(h *systest.History) {
		for _, i := range rng.Perm(nodes) {
			time.Sleep(time.Second + time.Duration(rng.IntN(500))*time.Millisecond)
			n := cl.Nodes()[i]
			kept := rng.IntN(50) // percent of unsynced blocks that survive
			clone := disks[i].cut(vfs.CrashCloneCfg{UnsyncedDataPercent: kept, RNG: rand.New(rand.NewPCG(seed, uint64(i)))})
			h.Mark(fmt.Sprintf("power cut on node %s (%d%% of unsynced data kept)", n.ID, kept))
			cl.Crash(n)
			time.Sleep(500 * time.Millisecond)
			disk := newPowerFS(clone)
			cl.RestartWith(n, func(cfg *storage.Config) { cfg.Pebble.FS = disk })
			h.Mark("restart node " + n.ID)
			cuts = append(cuts, fmt.Sprintf("%s:%d%%", n.ID, kept))
		}
		time.Sleep(time.Second) // traffic after the last restart
	})
	v := checkAt(t, cl.Addr(), res)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := cl.Daemon.AntiEntropy().Pass(ctx, nil)
	if err != nil {
		t.Errorf("anti-entropy pass: %v", err)
	}
	copies, missing := onAllOwners(t, cl, res.Set)
	summary(t, "seed=%d cuts=%v %v %v %v antientropy[partitions=%d mismatched=%d keys=%d failed=%d %v] owner_copies=%d missing_copies=%d faults=%d",
		seed, cuts, systest.Count(res.H.Ops(), 0, systest.Infinity), v.Set, v.Reg,
		rep.Partitions, rep.Mismatched, rep.Keys, rep.Failed, rep.Duration.Round(time.Millisecond), copies, missing, len(cuts))
}

// onAllOwners reads every acknowledged key of a set history at each of
// its owners (one pipelined connection per node) and counts the copies
// checked and those missing (absent, or at another version).
func onAllOwners(t *testing.T, cl *clustertest.Cluster, ops []systest.Op) (copies, missing int) {
	t.Helper()
	owned := map[*clustertest.Node][]systest.Op{}
	for _, op := range ops {
		if op.Outcome != systest.OK {
			continue
		}
		for _, n := range cl.Owners([]byte(op.Key)) {
			owned[n] = append(owned[n], op)
			copies++
		}
	}
	for n, ops := range owned {
		keys := make([][]byte, len(ops))
		for i, op := range ops {
			keys[i] = []byte(op.Key)
		}
		res, err := cl.NodeGetMany(n, keys)
		if err != nil {
			t.Errorf("cannot read node %s: %v", n.ID, err)
			missing += len(ops)
			continue
		}
		for i, r := range res {
			op := ops[i]
			if r.Status == protocol.StatusOK && r.Version == op.Version && string(r.Value) == op.Value {
				continue
			}
			if missing++; missing <= 5 {
				t.Errorf("node %s lacks acknowledged %s after repair: status %v version %v (want %v)",
					n.ID, op.Key, r.Status, r.Version, op.Version)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d owner copies of acknowledged keys missing after repair", missing, copies)
	}
	return copies, missing
}

// powerFS is a node's disk that can lose power: a crash-cloneable memory
// filesystem whose file writes and syncs pass through a gate. cut takes
// the gate exclusively, so that no sync is half done, clones what was
// synced, and fails every later write and sync: no sync can succeed (and
// let the node acknowledge a write) after the clone was taken.
type powerFS struct {
	*vfs.MemFS
	mu  sync.RWMutex
	off bool
}

var errPowerOff = errors.New("reliability: the disk has lost power")

func newPowerFS(mem *vfs.MemFS) *powerFS { return &powerFS{MemFS: mem} }

// cut turns the power off and returns the disk as it comes back.
func (p *powerFS) cut(cfg vfs.CrashCloneCfg) *vfs.MemFS {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.off = true
	return p.MemFS.CrashClone(cfg)
}

// gate runs op unless the power is off.
func (p *powerFS) gate(op func() error) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.off {
		return errPowerOff
	}
	return op()
}

func (p *powerFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &powerFile{File: f, fs: p}, nil
}

func (p *powerFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return p.wrap(p.MemFS.Create(name, c))
}

func (p *powerFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, o ...vfs.OpenOption) (vfs.File, error) {
	return p.wrap(p.MemFS.OpenReadWrite(name, c, o...))
}

func (p *powerFS) OpenDir(name string) (vfs.File, error) { return p.wrap(p.MemFS.OpenDir(name)) }

func (p *powerFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return p.wrap(p.MemFS.ReuseForWrite(old, name, c))
}

// powerFile is a file of a powerFS: its writes and syncs are gated.
type powerFile struct {
	vfs.File
	fs *powerFS
}

func (f *powerFile) Write(b []byte) (n int, err error) {
	err = f.fs.gate(func() error { n, err = f.File.Write(b); return err })
	return n, err
}

func (f *powerFile) WriteAt(b []byte, off int64) (n int, err error) {
	err = f.fs.gate(func() error { n, err = f.File.WriteAt(b, off); return err })
	return n, err
}

func (f *powerFile) Sync() error { return f.fs.gate(f.File.Sync) }

func (f *powerFile) SyncData() error { return f.fs.gate(f.File.SyncData) }

func (f *powerFile) SyncTo(length int64) (full bool, err error) {
	err = f.fs.gate(func() error { full, err = f.File.SyncTo(length); return err })
	return full, err
}
