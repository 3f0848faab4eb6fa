package replica_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/replica/replicatest"
	"github.com/distridata/distridata/ring"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testPartitions keeps ring construction cheap; placement quality is the
// ring package's business.
const testPartitions = 64

// cluster is a Coordinator over an in-memory backend.
type cluster struct {
	t     testing.TB
	b     *replicatest.Backend
	c     *replica.Coordinator
	clock *protocol.Clock
	ids   []string
	logs  *syncBuffer
}

func newRing(t testing.TB, n int, epoch uint64, ids ...string) *ring.Ring {
	t.Helper()
	nodes := make([]ring.Node, len(ids))
	for i, id := range ids {
		nodes[i] = ring.Node{ID: id, Addr: id + ":1", Weight: 1}
	}
	r, err := ring.New(ring.Config{Partitions: testPartitions, Replicas: n}, nodes, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newCluster starts a coordinator with cfg over nodes ids (default a, b,
// c). Cleanup releases every hold, closes the coordinator and waits for
// the backend's deliveries, so goleak sees no stragglers.
func newCluster(t testing.TB, cfg replica.Config, ids ...string) *cluster {
	t.Helper()
	if len(ids) == 0 {
		ids = []string{"a", "b", "c"}
	}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cl := &cluster{t: t, b: replicatest.NewBackend(ids...), clock: protocol.NewClock(nil), ids: ids, logs: logs}
	c, err := replica.New(cfg, newRing(t, cfg.N, 1, ids...), cl.b, cl.clock)
	if err != nil {
		t.Fatal(err)
	}
	cl.c = c
	t.Cleanup(func() {
		for _, id := range ids {
			cl.b.Node(id).Release()
		}
		c.Close()
		cl.b.Close()
	})
	return cl
}

func (cl *cluster) node(id string) *replicatest.Node { return cl.b.Node(id) }

// ctx is a generous per-operation budget: tests that expect no timeout
// fail loudly instead of hanging when they are wrong.
func (cl *cluster) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	cl.t.Cleanup(cancel)
	return ctx
}

func (cl *cluster) put(key, value string, w int) (protocol.Version, error) {
	if asyncHarness {
		ctx := cl.ctx()
		dl, _ := ctx.Deadline()
		o := await(func(done replica.Done) { cl.c.StartPut(ctx, dl, []byte(key), []byte(value), w, done) })
		return o.v, o.err
	}
	return cl.c.Put(cl.ctx(), []byte(key), []byte(value), w)
}

func (cl *cluster) mustPut(key, value string) protocol.Version {
	cl.t.Helper()
	v, err := cl.put(key, value, 0)
	if err != nil {
		cl.t.Fatalf("put %q: %v", key, err)
	}
	return v
}

func (cl *cluster) get(key string, r int) (string, protocol.Version, error) {
	if asyncHarness {
		ctx := cl.ctx()
		dl, _ := ctx.Deadline()
		o := await(func(done replica.Done) { cl.c.StartGet(ctx, dl, []byte(key), r, done) })
		return string(o.value), o.v, o.err
	}
	v, ver, err := cl.c.Get(cl.ctx(), []byte(key), r)
	return string(v), ver, err
}

// asyncHarness routes the harness's put and get through StartPut and
// StartGet, so that the whole suite checks that asynchronous requests
// keep the blocking ones' semantics. TestAsyncHarness sets it in a child
// run of this test binary.
var asyncHarness = os.Getenv(asyncHarnessEnv) == "1"

const asyncHarnessEnv = "DISTRIDATA_REPLICA_ASYNC_HARNESS"

// outcome is what a replica.Done received.
type outcome struct {
	value []byte
	v     protocol.Version
	err   error
}

// await starts a request with start and waits for its Done, which must
// be called exactly once: a second call would block and hang the test.
func await(start func(replica.Done)) outcome {
	ch := make(chan outcome, 1)
	start(func(value []byte, v protocol.Version, err error) { ch <- outcome{value, v, err} })
	return <-ch
}

// TestAsyncHarness runs this package's tests again with asyncHarness set.
func TestAsyncHarness(t *testing.T) {
	if asyncHarness {
		t.Skip("this is the asynchronous run")
	}
	args := []string{"-test.count=1", "-test.timeout=5m"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asyncHarnessEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the suite through StartPut/StartGet failed: %v\n%s", err, out)
	}
}

// stored is what each node holds for key, for messages: "a=v1 b=- c=tomb".
func (cl *cluster) stored(key string) string {
	var b bytes.Buffer
	for _, id := range cl.ids {
		e, ok := cl.node(id).Get(key)
		switch {
		case !ok:
			fmt.Fprintf(&b, "%s=- ", id)
		case e.Tombstone:
			fmt.Fprintf(&b, "%s=tomb@%d ", id, e.Version.TS)
		default:
			fmt.Fprintf(&b, "%s=%q@%d ", id, e.Value, e.Version.TS)
		}
	}
	return b.String()
}

// has reports whether node id stores exactly version v of key.
func (cl *cluster) has(id, key string, v protocol.Version) bool {
	e, ok := cl.node(id).Get(key)
	return ok && e.Version == v
}

// eventually polls cond for up to 2 s: for effects that land after the
// call under test returned (a held replica applying late).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 400 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// waitSends blocks until node id has received n Sends.
func (cl *cluster) waitSends(id string, n int) {
	cl.t.Helper()
	eventually(cl.t, fmt.Sprintf("%d sends to %s", n, id), func() bool { return cl.node(id).Counts().Sends >= n })
}

func statusOf(err error) protocol.Status { return protocol.StatusOf(err) }

func outcomeOf(err error) protocol.Outcome { return protocol.StatusOf(err).Outcome() }

// syncBuffer is a log sink safe for the coordinator's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hookBackend wraps the in-memory backend so a test can act at the moment
// a given Send is made (and observe when its answer was delivered). The
// hooks run on the caller's goroutine, inside Send, which the Backend
// contract allows to block.
type hookBackend struct {
	*replicatest.Backend
	mu     sync.Mutex
	before func(id string, items []protocol.Item) error // non-nil error: fail the Send with it
	after  func(id string, items []protocol.Item)       // runs after done returned
}

func (h *hookBackend) Send(ctx context.Context, id string, hdr protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) {
	h.mu.Lock()
	before, after := h.before, h.after
	h.mu.Unlock()
	if before != nil {
		if err := before(id, items); err != nil {
			done(replica.Reply{Err: err})
			return
		}
	}
	if after != nil {
		kept := append([]protocol.Item(nil), items...)
		inner := done
		done = func(r replica.Reply) { inner(r); after(id, kept) }
	}
	h.Backend.Send(ctx, id, hdr, items, done)
}

// newHookCluster is newCluster with the backend wrapped by a hookBackend.
func newHookCluster(t testing.TB, cfg replica.Config) (*cluster, *hookBackend) {
	t.Helper()
	cl := newCluster(t, cfg)
	h := &hookBackend{Backend: cl.b}
	c, err := replica.New(cfg, cl.c.Ring(), h, cl.clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // runs before newCluster's cleanup: LIFO
	cl.c = c
	return cl, h
}
