package replica_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/replica/replicatest"
)

// tryBackend is a NonBlockingBackend over the in-memory backend: its
// TrySendTransient refuses the nodes in refuse (as a full window would),
// and its Send runs blocking, a hook first, as the Coordinator's own
// goroutine makes the refused sends.
type tryBackend struct {
	*replicatest.Backend
	refuse map[string]bool
	block  func(id string) // runs inside Send, before delivery; may wait
	mu     sync.Mutex
	tried  []string // TrySendTransient calls, in order
}

func (b *tryBackend) SendTransient(ctx context.Context, id string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) {
	if b.block != nil {
		b.block(id)
	}
	b.Backend.Send(ctx, id, h, items, done)
}

func (b *tryBackend) TrySendTransient(ctx context.Context, id string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) bool {
	b.mu.Lock()
	b.tried = append(b.tried, id)
	b.mu.Unlock()
	if b.refuse[id] {
		return false
	}
	b.Backend.Send(ctx, id, h, items, done)
	return true
}

func newTryCluster(t *testing.T, tb *tryBackend) *cluster {
	t.Helper()
	cl := newCluster(t, replica.DefaultConfig())
	tb.Backend = cl.b
	c, err := replica.New(replica.DefaultConfig(), cl.c.Ring(), tb, cl.clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // before newCluster's cleanup (LIFO)
	cl.c = c
	return cl
}

// A PUT whose first sends the backend takes at once (and answers before
// they return: W is reached during the fan-out) must not answer before
// the send the backend refused was made by the Coordinator's goroutine:
// until then the caller's key and value are still being encoded.
func TestStartPutAnswersOnlyAfterEverySend(t *testing.T) {
	key := "k"
	var owners []string
	{
		cl := newCluster(t, replica.DefaultConfig())
		_, own := cl.c.Ring().Lookup([]byte(key))
		for _, n := range own {
			owners = append(owners, cl.c.Ring().Node(n).ID)
		}
	}
	last := owners[2]
	entered, release := make(chan struct{}), make(chan struct{})
	tb := &tryBackend{refuse: map[string]bool{last: true}, block: func(id string) {
		close(entered)
		<-release
	}}
	cl := newTryCluster(t, tb)
	answered := make(chan outcome, 1)
	ctx := cl.ctx()
	dl, _ := ctx.Deadline()
	cl.c.StartPut(ctx, dl, []byte(key), []byte("v"), 0, func(_ []byte, v protocol.Version, err error) {
		answered <- outcome{v: v, err: err}
	})
	<-entered // the refused send is being made; two owners acked already
	select {
	case o := <-answered:
		t.Fatalf("answered (%v) while a send was still being made", o.err)
	default:
	}
	close(release)
	o := <-answered
	if o.err != nil {
		t.Fatal(o.err)
	}
	for _, id := range owners {
		if !cl.has(id, key, o.v) {
			t.Fatalf("%s lacks the write: %s", id, cl.stored(key))
		}
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.tried) != 3 {
		t.Fatalf("tried %v, want all three owners", tb.tried)
	}
}

// Without TrySendTransient every send is made by a Coordinator goroutine,
// and StartGet still answers with the newest value after repairing.
func TestStartGetRepairsWithoutTrySend(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	v := cl.mustPut("k", "v1")
	cl.node("c").Set("k", replicatest.Entry{}) // c is stale: an empty entry
	ctx := cl.ctx()
	dl, _ := ctx.Deadline()
	o := await(func(done replica.Done) { cl.c.StartGet(ctx, dl, []byte("k"), 3, done) })
	if o.err != nil || string(o.value) != "v1" || o.v != v {
		t.Fatalf("got %q %+v %v, want v1 %+v", o.value, o.v, o.err, v)
	}
	if !cl.has("c", "k", v) {
		t.Fatalf("c not repaired before the answer: %s", cl.stored("k"))
	}
}

// A request born after its deadline sends nothing and times out; one
// made after Close is refused.
func TestStartPutExpiredAndClosed(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	o := await(func(done replica.Done) {
		cl.c.StartPut(context.Background(), time.Now().Add(-time.Second), []byte("k"), []byte("v"), 0, done)
	})
	if statusOf(o.err) != protocol.StatusTimeout {
		t.Fatalf("expired: %v, want TIMEOUT", o.err)
	}
	for _, id := range cl.ids {
		if n := cl.node(id).Counts().Sends; n != 0 {
			t.Fatalf("an expired request sent %d to %s", n, id)
		}
	}
	cl.c.Close()
	o = await(func(done replica.Done) {
		cl.c.StartDel(context.Background(), time.Now().Add(time.Second), []byte("k"), 0, done)
	})
	if o.err != replica.ErrClosed {
		t.Fatalf("after Close: %v, want ErrClosed", o.err)
	}
}

// afterBackend delivers every send at once, then runs after (which may
// wait) before Send returns: the send's done has run, the sender is still
// inside Send.
type afterBackend struct {
	*replicatest.Backend
	after func(items []protocol.Item)
}

func (b *afterBackend) SendTransient(ctx context.Context, id string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) {
	b.Backend.Send(ctx, id, h, items, done)
	if b.after != nil {
		b.after(items)
	}
}

// Close must wait for every goroutine the asynchronous path started, also
// when every request has answered already: a read's repair sender can
// still be inside its last Send after that Send's answer completed the
// read. Close returning first leaves a goroutine without an owner that
// sends on a backend the daemon closes next.
func TestCloseWaitsForRepairSender(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	v := cl.mustPut("k", "v1")
	cl.node("c").Set("k", replicatest.Entry{}) // c is stale: its repair comes
	entered, release := make(chan struct{}), make(chan struct{})
	var released atomic.Bool
	ab := &afterBackend{Backend: cl.b, after: func(items []protocol.Item) {
		if items[0].Kind == protocol.ItemPut { // the repair
			close(entered)
			<-release
		}
	}}
	c, err := replica.New(replica.DefaultConfig(), cl.c.Ring(), ab, cl.clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cl.ctx()
	dl, _ := ctx.Deadline()
	o := await(func(done replica.Done) { c.StartGet(ctx, dl, []byte("k"), 3, done) })
	if o.err != nil || o.v != v {
		t.Fatalf("got %+v %v, want %+v", o.v, o.err, v)
	}
	<-entered // answered; the repair sender is still in its Send
	go func() {
		time.Sleep(50 * time.Millisecond) // only gives a wrong Close time to return
		released.Store(true)
		close(release)
	}()
	c.Close()
	if !released.Load() {
		t.Fatal("Close returned while a goroutine of the Coordinator was still sending")
	}
}
