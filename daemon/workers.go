package daemon

import "sync"

// maxIdleWorkers bounds the request goroutines kept parked between
// requests: enough for every slot of 64 pipelined connections at window
// 16, while a burst from thousands of connections does not leave tens of
// thousands of idle stacks behind.
const maxIdleWorkers = 1024

// workerPool runs requests on goroutines that outlive one request. A fresh
// goroutine per request starts on a 2 KiB stack, and the replication core
// (coordinator, ring hash, link encoder) outgrew it on every request:
// copystack alone was 7% of the CPU of a replicated PUT. A parked worker
// keeps its grown stack.
//
// Each idle worker parks on its own channel, and the loop picks the most
// recently parked one (warm stack and cache), so a hand-off is one
// uncontended lock and one direct channel send; a pool sharing one channel
// (and a select with a stop channel) cost as much as the stack growth it
// saved, because every worker and the loop contended on that channel.
//
// Ownership: the frontend starts workers (hand, on the loop) and stops
// them in shutdown (close).
type workerPool struct {
	mu      sync.Mutex
	idle    []*worker // parked workers, the most recent last
	stopped bool      // set by close: no more parking
	wg      sync.WaitGroup
}

type worker struct {
	next chan *request // capacity 1: the next request, or nil to exit
	ctx  *reqCtx       // the context of the request it serves (reqctx.go)
}

// hand runs r on the most recently parked worker, or on a new one. Loop
// only; it never blocks.
func (fe *frontend) hand(r *request) {
	p := &fe.pool
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.next <- r // never blocks: a parked worker's channel is empty
		return
	}
	p.mu.Unlock()
	p.wg.Add(1)
	go fe.work(&worker{next: make(chan *request, 1), ctx: newReqCtx(fe.baseCtx)}, r)
}

// work is a worker goroutine: it serves r, then parks for the next request
// until the pool stops or already holds enough idle workers.
func (fe *frontend) work(w *worker, r *request) {
	defer fe.pool.wg.Done()
	defer w.ctx.close()
	for r != nil {
		fe.serve(w.ctx, r)
		if !fe.pool.park(w) {
			return
		}
		r = <-w.next
	}
}

// park queues w as idle and reports whether it should wait for a request.
func (p *workerPool) park(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || len(p.idle) >= maxIdleWorkers {
		return false
	}
	p.idle = append(p.idle, w)
	return true
}

// close makes parked workers exit and keeps the others from parking, so
// each exits after its request. It does not wait. Idempotent.
func (p *workerPool) close() {
	p.mu.Lock()
	p.stopped = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, w := range idle {
		w.next <- nil
	}
}
