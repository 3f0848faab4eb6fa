package bench

import (
	"fmt"
	"time"
)

// startProgress starts the live progress line, if cfg.Progress is set,
// and returns the function that stops it and waits for its goroutine.
func (r *runner) startProgress(recs []*recorder) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		r.progressLoop(recs, done)
	}()
	return func() {
		close(done)
		<-finished
	}
}

// progressLoop prints, each interval, the ok ops per second over the last
// interval, the p99 of everything measured so far, and the error count.
// The line is rewritten in place with a carriage return.
func (r *runner) progressLoop(recs []*recorder, done <-chan struct{}) {
	w := r.cfg.Progress
	t := time.NewTicker(r.cfg.ProgressInterval)
	defer t.Stop()
	h := newHistogram()
	var lastOps uint64
	last := r.since()
	for {
		select {
		case <-done:
			fmt.Fprintln(w)
			return
		case <-t.C:
		}
		h.Reset()
		var ops, errs uint64
		for _, rec := range recs {
			o, e := rec.snapshotInto(h)
			ops, errs = ops+o, errs+e
		}
		now := r.since()
		rate := float64(ops-lastOps) / (now - last).Seconds()
		lastOps, last = ops, now
		phase := "run"
		if now < r.measureFrom {
			phase = "warmup"
		}
		fmt.Fprintf(w, "\r%-6s %6.1fs %11.0f ops/s  p99 %8.3f ms  errors %d   ",
			phase, now.Seconds(), rate, ms(time.Duration(h.ValueAtQuantile(99))), errs)
	}
}
