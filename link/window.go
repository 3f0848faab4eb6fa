package link

import (
	"context"
	"sync"
	"time"
)

// minWindowWait: when a node's window is full and ctx has less than this
// left, Send fails with ErrBusy at once instead of parking a waiter that
// could not be granted and still send in time.
const minWindowWait = time.Millisecond

// window bounds a node's admitted requests by count and by bytes. Waiters
// are granted in FIFO order, so a large request is not starved by a stream
// of small ones. It is safe for concurrent use.
type window struct {
	maxN, maxBytes int

	mu     sync.Mutex
	n      int
	bytes  int
	queue  []*windowWaiter // FIFO; bounded by the callers blocked in Send
	closed error           // set by close; every later acquire fails with it

	busy chan struct{} // capacity 1: signalled when n turns from 0 to 1 (wakes the sweeper)
}

type windowWaiter struct {
	size  int
	ready chan struct{} // closed when granted or when the window closes
	err   error         // set before ready is closed if the window closed
}

func newWindow(maxN, maxBytes int) *window {
	return &window{maxN: maxN, maxBytes: maxBytes, busy: make(chan struct{}, 1)}
}

func (w *window) fits(size int) bool {
	return w.n < w.maxN && w.bytes+size <= w.maxBytes
}

// acquire admits a request of size bytes, waiting within ctx. A wait that
// ctx ends returns ErrBusy combined with ctx's error: nothing was sent.
func (w *window) acquire(ctx context.Context, size int) error {
	w.mu.Lock()
	if w.closed != nil {
		w.mu.Unlock()
		return w.closed
	}
	if len(w.queue) == 0 && w.fits(size) {
		w.admitLocked(size)
		w.mu.Unlock()
		return nil
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < minWindowWait {
		w.mu.Unlock()
		return ErrBusy
	}
	wt := &windowWaiter{size: size, ready: make(chan struct{})}
	w.queue = append(w.queue, wt)
	w.mu.Unlock()

	select {
	case <-wt.ready:
		return wt.err
	case <-ctx.Done():
		return w.abandon(wt, ctx.Err())
	}
}

// tryAcquire admits a request of size bytes if it fits now, behind no
// waiter; else it returns errWouldBlock.
func (w *window) tryAcquire(size int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed != nil:
		return w.closed
	case len(w.queue) == 0 && w.fits(size):
		w.admitLocked(size)
		return nil
	}
	return errWouldBlock
}

// abandon withdraws a waiter whose ctx ended. If it was granted in the
// meantime, the grant is handed back.
func (w *window) abandon(wt *windowWaiter, cause error) error {
	w.mu.Lock()
	select {
	case <-wt.ready:
		w.mu.Unlock()
		if wt.err != nil {
			return wt.err
		}
		w.release(wt.size)
		return both(ErrBusy, cause)
	default:
	}
	for i, q := range w.queue {
		if q == wt {
			w.queue = append(w.queue[:i], w.queue[i+1:]...)
			break
		}
	}
	// The head may have been blocking smaller requests behind it.
	w.grantLocked()
	w.mu.Unlock()
	return both(ErrBusy, cause)
}

// admitLocked counts an admitted request of size bytes.
func (w *window) admitLocked(size int) {
	w.n++
	w.bytes += size
	if w.n == 1 {
		select {
		case w.busy <- struct{}{}:
		default: // a signal is pending already
		}
	}
}

// release returns a completed request's share.
func (w *window) release(size int) {
	w.mu.Lock()
	w.n--
	w.bytes -= size
	w.grantLocked()
	w.mu.Unlock()
}

func (w *window) grantLocked() {
	for len(w.queue) > 0 && w.closed == nil && w.fits(w.queue[0].size) {
		wt := w.queue[0]
		w.queue[0] = nil
		w.queue = w.queue[1:]
		w.admitLocked(wt.size)
		close(wt.ready)
	}
	if len(w.queue) == 0 {
		w.queue = nil // drop the backing array a burst of waiters grew
	}
}

// close fails every waiter and every later acquire with err. Requests
// already admitted still release normally.
func (w *window) close(err error) {
	w.mu.Lock()
	w.closed = err
	for _, wt := range w.queue {
		wt.err = err
		close(wt.ready)
	}
	w.queue = nil
	w.mu.Unlock()
}

// usage reports the admitted count and bytes.
func (w *window) usage() (n, bytes int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n, w.bytes
}
