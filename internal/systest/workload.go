package systest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/protocol"
)

// Mix selects a workload.
type Mix uint8

const (
	// SetMix writes unique keys once each: every acknowledged key must be
	// readable, with its value, at the end (CheckSet).
	SetMix Mix = iota + 1
	// RegisterMix hammers a few hot keys with unique values, 50% PUT,
	// 45% GET, 5% DEL: checked for linearizability (CheckRegister).
	RegisterMix
)

// Workload is a bounded closed-loop load: Workers goroutines, each with
// its own connection and one operation in flight (so that each worker is
// one porcupine client), until MaxOps operations in all or Duration
// passes, whichever comes first.
type Workload struct {
	Addr     string
	Mix      Mix
	Seed     uint64
	Workers  int           // 0 means 8
	MaxOps   int           // bound on operations in all; 0 means 20,000
	Duration time.Duration // bound on time; 0 means 10 s
	// OpTimeout is each call's deadline, sent to the daemon; 0 means 1 s.
	OpTimeout time.Duration
	Keys      int // hot keys of RegisterMix; 0 means 32
	ValueSize int // bytes per value, at least the unique tag; 0 means 64
	Quorum    int // W or R per call; 0 means the daemon's default
}

func (w Workload) withDefaults() Workload {
	if w.Workers == 0 {
		w.Workers = 8
	}
	if w.MaxOps == 0 {
		w.MaxOps = 20000
	}
	if w.Duration == 0 {
		w.Duration = 10 * time.Second
	}
	if w.OpTimeout == 0 {
		w.OpTimeout = time.Second
	}
	if w.Keys == 0 {
		w.Keys = 32
	}
	if w.ValueSize == 0 {
		w.ValueSize = 64
	}
	return w
}

// Stats are a run's side counts; the history holds the rest.
type Stats struct {
	Redials      int64 // connections re-established after a break
	Unclassified int64 // errors in no outcome class (a client defect)
	Mismatched   int64 // GET answers whose value belongs to another key
}

// Run drives the workload until its bounds or ctx end, recording into h.
// It returns once every worker has stopped and closed its connection.
func (w Workload) Run(ctx context.Context, h *History) Stats {
	w = w.withDefaults()
	// The deadline stops issuing, not calls in flight: cancelling those
	// would turn finished writes into needless unknowns.
	deadline := time.Now().Add(w.Duration)
	var budget atomic.Int64
	budget.Store(int64(w.MaxOps))
	var st Stats
	var wg sync.WaitGroup
	for i := range w.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := &worker{w: w, id: i, h: h, st: &st, budget: &budget, deadline: deadline,
				rng: rand.New(rand.NewPCG(w.Seed, uint64(i)))}
			wk.run(ctx)
		}()
	}
	wg.Wait()
	return st
}

// worker is one closed-loop client.
type worker struct {
	w        Workload
	id       int
	h        *History
	st       *Stats
	budget   *atomic.Int64
	deadline time.Time
	rng      *rand.Rand
	conn     *client.Conn
	n        int // operations issued, for unique keys and values
}

func (wk *worker) run(ctx context.Context) {
	defer func() {
		if wk.conn != nil {
			wk.conn.Close()
		}
	}()
	for ctx.Err() == nil && time.Now().Before(wk.deadline) && wk.budget.Add(-1) >= 0 {
		if !wk.connect(ctx) {
			return
		}
		wk.step(ctx)
		wk.n++
	}
}

// redialPause spaces reconnection attempts while the daemon is down.
const redialPause = 50 * time.Millisecond

// connect makes sure the worker has a live connection, redialling a
// broken one until ctx ends.
func (wk *worker) connect(ctx context.Context) bool {
	if wk.conn != nil {
		select {
		case <-wk.conn.Done():
			wk.conn.Close()
			wk.conn = nil
		default:
			return true
		}
	}
	for ctx.Err() == nil && time.Now().Before(wk.deadline) {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := client.Dial(dctx, wk.w.Addr, client.DefaultOptions())
		cancel()
		if err == nil {
			if wk.n > 0 {
				atomic.AddInt64(&wk.st.Redials, 1)
			}
			wk.conn = c
			return true
		}
		select {
		case <-ctx.Done():
		case <-time.After(redialPause):
		}
	}
	return false
}

func (wk *worker) step(ctx context.Context) {
	switch wk.w.Mix {
	case SetMix:
		key := fmt.Sprintf("set/%d/%d/%d", wk.w.Seed, wk.id, wk.n)
		wk.put(ctx, key)
	case RegisterMix:
		key := fmt.Sprintf("reg/%d/%02d", wk.w.Seed, wk.rng.IntN(wk.w.Keys))
		switch p := wk.rng.IntN(100); {
		case p < 50:
			wk.put(ctx, key)
		case p < 95:
			wk.get(ctx, key)
		default:
			wk.del(ctx, key)
		}
	}
}

func (wk *worker) opts() []client.CallOption {
	o := []client.CallOption{client.WithDeadline(wk.w.OpTimeout)}
	if wk.w.Quorum > 0 {
		o = append(o, client.WithQuorum(wk.w.Quorum))
	}
	return o
}

func (wk *worker) put(ctx context.Context, key string) {
	val := ValueFor(key, fmt.Sprintf("w%d.%d", wk.id, wk.n), wk.w.ValueSize)
	op := Op{Worker: wk.id, Kind: Put, Key: key, Value: val, Call: wk.h.Now()}
	v, err := wk.conn.Put(ctx, []byte(key), []byte(val), wk.opts()...)
	wk.finish(op, v, err)
}

func (wk *worker) get(ctx context.Context, key string) {
	op := Op{Worker: wk.id, Kind: Get, Key: key, Call: wk.h.Now()}
	b, v, err := wk.conn.Get(ctx, []byte(key), wk.opts()...)
	op.Value = string(b)
	if err == nil && KeyOf(op.Value) != key {
		atomic.AddInt64(&wk.st.Mismatched, 1)
	}
	wk.finish(op, v, err)
}

func (wk *worker) del(ctx context.Context, key string) {
	op := Op{Worker: wk.id, Kind: Del, Key: key, Call: wk.h.Now()}
	v, err := wk.conn.Del(ctx, []byte(key), wk.opts()...)
	wk.finish(op, v, err)
}

func (wk *worker) finish(op Op, v protocol.Version, err error) {
	op.Return = wk.h.Now()
	op.Took = time.Duration(op.Return - op.Call)
	op.Version = v
	var ok bool
	if op.Outcome, ok = Classify(err); !ok {
		atomic.AddInt64(&wk.st.Unclassified, 1)
	}
	if err != nil {
		op.Err = err.Error()
	}
	wk.h.Add(op)
}

// ValueFor makes a value that names its key and a unique tag, padded to
// size: a reply carrying another request's value is recognisable.
func ValueFor(key, tag string, size int) string {
	v := key + "|" + tag + "|"
	if len(v) < size {
		v += strings.Repeat(".", size-len(v))
	}
	return v
}

// KeyOf returns the key a ValueFor value names.
func KeyOf(value string) string {
	k, _, _ := strings.Cut(value, "|")
	return k
}
