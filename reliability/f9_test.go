package reliability_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distridata/distridata/internal/systest"
	"github.com/distridata/distridata/protocol"
)

// f9DiskSize is the victim's tmpfs: room for pebble to start and take a
// few seconds of writes, small enough that the filler costs little RAM.
const f9DiskSize = 16 << 20

// exitDiskFault is `distridata node`'s exit code after a disk error.
const exitDiskFault = 4

// F9: one node's disk fills up mid-traffic (its data directory is a small
// tmpfs, and a filler file takes the rest). The node must not acknowledge
// what it cannot persist: it fails-stop and exits (code 4, a FATAL line);
// the daemon keeps serving with the other replicas; a restart while the
// disk is still full is refused at once (not hung); once space is freed
// the node restarts on its directory and every write it had acknowledged
// is there (read straight from it), writes to it resume, no acknowledged
// write is lost cluster-wide (R=2 read-back), and the histories stay
// linearizable.
func TestF9DiskFull(t *testing.T) {
	needFull(t)
	seed := seedFor(t)
	rng := newRand(seed)
	mnt := mountTmpfs(t, f9DiskSize)
	vi := rng.IntN(5) // node IDs are "1".."5", in order
	c := systest.Start(t, systest.Options{NodeDirs: map[string]string{strconv.Itoa(vi + 1): filepath.Join(mnt, "data")}})
	victim := c.Nodes[vi]
	dw := &directWriter{c: c, n: victim, prefix: fmt.Sprintf("f9/%d/direct", seed)}
	var (
		fullAt, exitAt, restartAt int64
		fillErr, fullStart        error
		exited                    bool
		exitCode                  int
	)
	res := load{Addr: c.Addr(), Seed: seed, Duration: 9 * time.Second, MaxOps: 20000}.run(t, func(h *systest.History) {
		stop := dw.start(h)
		defer stop()
		time.Sleep(1500 * time.Millisecond)
		filler := filepath.Join(mnt, "filler")
		fillErr = fill(filler)
		fullAt = h.Mark("disk full on node " + victim.ID)
		_ = victim.Proc.Wait(10 * time.Second) // its status is read below
		if exited = victim.Proc.Exited(); !exited {
			c.Kill(victim) // the check below fails; go on to see the rest
		}
		exitCode = exitCodeOf(victim.Proc)
		exitAt = h.Mark("node " + victim.ID + " exited")
		fullStart = c.TryRestart(victim) // must fail fast: the disk is still full
		c.Kill(victim)
		time.Sleep(2*time.Second - time.Duration(h.Now()-exitAt)) // down for 2 s in all
		os.Remove(filler)
		h.Mark("space freed")
		c.Restart(victim)
		restartAt = h.Mark("restart node " + victim.ID)
		time.Sleep(2 * time.Second) // direct writes after the restart
	})
	if !errors.Is(fillErr, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs ended with %v, want ENOSPC", fillErr)
	}
	if !exited || exitCode != exitDiskFault || victim.Proc.LogCount("FATAL: disk write or sync failed") == 0 {
		t.Errorf("node %s on a full disk: exited=%v code=%d, want exit %d with a FATAL line; log tail:\n%s",
			victim.ID, exited, exitCode, exitDiskFault, victim.Proc.Tail(2048))
	}
	if victim.Proc.LogCount("no space left on device") == 0 {
		t.Errorf("node %s never hit ENOSPC: the fault missed it", victim.ID)
	}
	if fullStart == nil || victim.Proc.LogCount("not enough free disk space") == 0 {
		t.Errorf("a restart on the still-full disk was not refused at once (err %v)", fullStart)
	}
	down := systest.Count(res.H.Ops(), exitAt, restartAt)
	if down.Ops == 0 {
		t.Errorf("no operation was issued while node %s was down", victim.ID)
	} else if s := down.Succeeded(); s < 0.95 {
		t.Errorf("only %.1f%% of ops succeeded with node %s down (%v); want ≥ 95%%", 100*s, victim.ID, down)
	}
	d := dw.check(t, restartAt)
	v := check(t, c, res)
	diverged, checked := converge(t, c, res.Set, victim, fullAt, restartAt)
	if diverged > 0 {
		t.Errorf("%d of %d keys written while node %s was down still differ across replicas after an R=3 read", diverged, checked, victim.ID)
	}
	summary(t, "seed=%d victim=%s exit_code=%d restart_on_full_refused=%v %v down[%v] succeeded_down=%.3f direct[%v] %v %v converge_checked=%d diverged=%d faults=1",
		seed, victim.ID, exitCode, fullStart != nil, systest.Count(res.H.Ops(), 0, systest.Infinity), down, down.Succeeded(),
		d, v.Set, v.Reg, checked, diverged)
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it at cleanup, after the cluster's processes are gone (cleanups run last
// registered first). It skips the test where mounting is not permitted.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+strconv.Itoa(size))
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		t.Skipf("a disk-full test needs to mount a tmpfs (root or CAP_SYS_ADMIN): %v", err)
	}
	if err != nil {
		t.Fatalf("cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Still busy: detach it, so it goes once the last file closes.
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("cannot unmount the tmpfs on %s: %v", dir, err)
			}
		}
	})
	return dir
}

// fill writes path until the filesystem is full and returns the error
// that stopped it (ENOSPC when all went as planned).
func fill(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for range 2 * f9DiskSize / len(buf) { // bounded: a tmpfs this size is full long before
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	return errors.New("the filesystem never filled")
}

// exitCodeOf is an ended process's exit code (-1 if killed by a signal or
// still running).
func exitCodeOf(p *systest.Proc) int {
	var ee *exec.ExitError
	if errors.As(p.ExitErr(), &ee) {
		return ee.ExitCode()
	}
	if p.Exited() {
		return 0
	}
	return -1
}

// directWriter writes unique keys straight to one node, one at a time,
// and records which the node acknowledged OK: each of those must be on
// the node after any crash or restart.
type directWriter struct {
	c      *systest.Cluster
	n      *systest.Node
	prefix string

	mu  sync.Mutex
	ops []directOp
}

type directOp struct {
	key, value string
	version    protocol.Version
	at         int64 // history time of the call
	ok         bool  // answered OK
}

// directPause spaces attempts while the node is unreachable.
const directPause = 20 * time.Millisecond

// start runs the writer until the returned stop is called.
func (w *directWriter) start(h *systest.History) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			default:
			}
			key := fmt.Sprintf("%s/%d", w.prefix, i)
			op := directOp{key: key, value: systest.ValueFor(key, "direct", 64), at: h.Now(),
				version: protocol.Version{TS: uint64(time.Now().UnixMilli()) << protocol.LogicalBits, Origin: 900}}
			r, err := w.c.NodePut(w.n, []byte(key), []byte(op.value), op.version)
			op.ok = err == nil && r.Status == protocol.StatusOK
			w.mu.Lock()
			w.ops = append(w.ops, op)
			w.mu.Unlock()
			if err != nil {
				time.Sleep(directPause)
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}

// directCounts summarises a direct writer's run.
type directCounts struct {
	Acked, NotAcked, AckedAfterRestart, Missing int
}

func (d directCounts) String() string {
	return fmt.Sprintf("acked=%d not_acked=%d acked_after_restart=%d missing_at_node=%d",
		d.Acked, d.NotAcked, d.AckedAfterRestart, d.Missing)
}

// check reads every acknowledged direct write back from the node: it
// must hold exactly that version and value. Writes must also have been
// acknowledged before the fault and again after the restart.
func (w *directWriter) check(t *testing.T, restartAt int64) directCounts {
	t.Helper()
	var d directCounts
	var acked []directOp
	for _, op := range w.ops {
		if !op.ok {
			d.NotAcked++
			continue
		}
		acked = append(acked, op)
		if op.at > restartAt {
			d.AckedAfterRestart++
		}
	}
	d.Acked = len(acked)
	missing := w.readBack(acked)
	d.Missing = len(missing)
	for _, m := range missing[:min(5, len(missing))] {
		t.Errorf("node %s acknowledged a direct write it no longer holds: %s", w.n.ID, m)
	}
	if d.Missing > 0 {
		t.Errorf("node %s lost %d of the %d writes it acknowledged", w.n.ID, d.Missing, d.Acked)
	}
	if d.Acked-d.AckedAfterRestart == 0 || d.AckedAfterRestart == 0 {
		t.Errorf("direct writes to node %s: %v; want some acknowledged before the fault and some after the restart", w.n.ID, d)
	}
	return d
}

// readBackParallel bounds the direct reads in flight (one connection each).
const readBackParallel = 8

// readBack reads ops from the node and describes each that is not held
// exactly as written.
func (w *directWriter) readBack(ops []directOp) []string {
	var mu sync.Mutex
	var missing []string
	ch := make(chan directOp)
	var wg sync.WaitGroup
	for range readBackParallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for op := range ch {
				r, err := w.c.NodeGet(w.n, []byte(op.key))
				if err == nil && r.Status == protocol.StatusOK && r.Version == op.version && string(r.Value) == op.value {
					continue
				}
				mu.Lock()
				missing = append(missing, fmt.Sprintf("%s: status %v version %v err %v", op.key, r.Status, r.Version, err))
				mu.Unlock()
			}
		}()
	}
	for _, op := range ops {
		ch <- op
	}
	close(ch)
	wg.Wait()
	return missing
}
