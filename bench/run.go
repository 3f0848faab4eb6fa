package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/protocol"
)

// openLoopGrace is how long past the end an open-loop writer may take to
// send the last requests of its schedule before it is stopped and what is
// left counts as UNSENT: timer slack is about a millisecond.
const openLoopGrace = 100 * time.Millisecond

// runner is the state all drivers of one run share. It is immutable once
// the drivers start, except for the request budget and the stop channel.
type runner struct {
	cfg         Config
	keys        *keyspace
	value       []byte
	start       time.Time     // monotonic origin of every timestamp
	measureFrom time.Duration // = Warmup: replies to earlier requests are not recorded
	stopAt      time.Duration // = Warmup + Duration: no request is sent after it
	interval    time.Duration // open loop: time between requests of one connection
	budget      atomic.Int64  // measured requests left; unused when cfg.Requests == 0
	stop        chan struct{} // closed by Run: writers stop issuing
}

func newRunner(cfg Config) *runner {
	r := &runner{
		cfg:         cfg,
		keys:        newKeyspace(cfg.Keys, cfg.Dist, cfg.ZipfTheta),
		value:       makeValue(cfg.ValueSize, cfg.Seed),
		measureFrom: cfg.Warmup,
		stopAt:      cfg.Warmup + cfg.Duration,
		stop:        make(chan struct{}),
	}
	if cfg.openLoop() {
		r.interval = max(time.Duration(float64(cfg.Conns)*float64(time.Second)/cfg.Rate), 1)
	}
	r.budget.Store(cfg.Requests)
	return r
}

// makeValue is a printable, seed-determined value: servers that compress
// or log it see something like text, not a run of one byte.
func makeValue(n int, seed uint64) []byte {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	rng := rand.New(rand.NewPCG(seed, 0x76616c7565))
	v := make([]byte, n)
	for i := range v {
		v[i] = letters[rng.IntN(len(letters))]
	}
	return v
}

func (r *runner) since() time.Duration { return time.Since(r.start) }

// reserve takes up to n requests from the budget and returns how many.
func (r *runner) reserve(n int) int {
	if r.cfg.Requests == 0 {
		return n
	}
	left := r.budget.Add(-int64(n))
	if left >= 0 {
		return n
	}
	return max(0, n+int(left))
}

// Run generates load as cfg says and returns the measurements. It returns
// when the measured Duration has passed, Requests were answered, or ctx
// ends, after waiting at most DrainTimeout for replies in flight. If a
// connection fails mid-run, Run still returns the Result of all
// connections, with an error wrapping ErrConnLost or ErrBadReply.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	r := newRunner(cfg)
	recs := make([]*recorder, min(cfg.Conns, maxRecorders))
	for i := range recs {
		recs[i] = newRecorder()
	}
	drivers, err := r.dialAll(ctx, recs)
	defer func() {
		for _, d := range drivers {
			_ = d.nc.Close()
		}
	}()
	if err != nil {
		return Result{}, err
	}
	r.start = time.Now()
	runErr := r.drive(ctx, drivers, recs)
	return r.result(drivers, recs), runErr
}

// dialAll opens and handshakes every connection before any load starts,
// so a refused connection fails the run instead of skewing it.
func (r *runner) dialAll(ctx context.Context, recs []*recorder) ([]*driver, error) {
	var clock *protocol.Clock
	if r.cfg.Target == TargetNode {
		clock = protocol.NewClock(nil)
	}
	drivers := make([]*driver, 0, r.cfg.Conns)
	for i := range r.cfg.Conns {
		nc, err := dial(ctx, r.cfg.address(), r.cfg.TLS, r.cfg.DialTimeout)
		if err != nil {
			return drivers, fmt.Errorf("cannot connect to %s: %w", r.cfg.address(), err)
		}
		c := r.newCodec(clock)
		if err := c.handshake(nc, time.Now().Add(r.cfg.DialTimeout)); err != nil {
			_ = nc.Close()
			return drivers, fmt.Errorf("cannot start connection %d to %s: %w", i, r.cfg.address(), err)
		}
		drivers = append(drivers, newDriver(r, nc, c, recs[i%len(recs)], i))
	}
	return drivers, nil
}

func (r *runner) newCodec(clock *protocol.Clock) codec {
	switch r.cfg.Target {
	case TargetRedis:
		return newRESPCodec(&r.cfg)
	}
	return newFrameCodec(&r.cfg, clock)
}

// drive starts a writer and a reader per connection and the progress
// line, stops the writers at the end, and waits for every goroutine.
func (r *runner) drive(ctx context.Context, drivers []*driver, recs []*recorder) error {
	var readers, writers sync.WaitGroup
	for _, d := range drivers {
		writers.Add(1)
		readers.Add(1)
		go func() {
			defer writers.Done()
			if r.cfg.openLoop() {
				d.writeErr = d.openLoop()
			} else {
				d.writeErr = d.writeLoop()
			}
		}()
		go func() {
			defer readers.Done()
			d.readErr = d.readLoop()
		}()
	}
	writersDone := make(chan struct{})
	go func() { // owned by drive: ends when the writers end, which stop does
		writers.Wait()
		close(writersDone)
	}()
	stopProgress := r.startProgress(recs)
	end := r.stopAt
	if r.cfg.openLoop() {
		end += openLoopGrace // writers end by themselves once the schedule is sent
	}
	timer := time.NewTimer(end)
	select {
	case <-ctx.Done():
	case <-timer.C:
	case <-writersDone:
	}
	timer.Stop()
	close(r.stop)
	r.unblockWriters(drivers)
	<-writersDone
	readers.Wait()
	stopProgress()
	return firstError(drivers)
}

// unblockWriters bounds a writer stuck in Write on a server that stopped
// reading: past the drain timeout its write fails.
func (r *runner) unblockWriters(drivers []*driver) {
	deadline := time.Now().Add(r.cfg.DrainTimeout)
	for _, d := range drivers {
		_ = d.nc.SetWriteDeadline(deadline)
	}
}

// firstError reports the first connection error and how many there were.
// Call it after every goroutine has returned.
func firstError(drivers []*driver) error {
	var all []error
	for _, d := range drivers {
		for _, err := range []error{d.readErr, d.writeErr} {
			if err != nil {
				all = append(all, err)
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	return fmt.Errorf("%d connection errors, first: %w", len(all), all[0])
}
