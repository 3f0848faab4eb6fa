package link

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// maxKeptWriteBuf: a write buffer grown past this by a burst of large
// frames is dropped after the write instead of being kept for reuse.
const maxKeptWriteBuf = 1 << 20

// conn is one live, handshaken connection to a node. Senders encode frames
// straight into its write buffer; its writer goroutine (the node's slot
// goroutine, inside serve) swaps the buffer out and writes everything
// queued in one system call; its reader goroutine completes requests by ID.
type conn struct {
	node       *node
	nc         net.Conn
	kick       chan struct{} // capacity 1: wakes the writer when the queue turns non-empty
	readerDone chan struct{} // closed when the reader goroutine returns
	readErr    error         // why the reader returned; read after readerDone
	fr         frameReader   // the reader goroutine's (the handshake's before it starts)
	scratch    []byte        // the reader goroutine's, for decompressed bodies
	expired    []*request    // the node sweeper's scratch (sweep.go)
	members    []*request    // the reader's scratch: a batch's members (coalesce.go)

	mu      sync.Mutex
	closed  bool   // set by shutdown; no request is inserted afterwards
	nextID  uint64 // the next request ID
	written uint64 // every ID up to this one has been handed to the socket
	wbuf    []byte // encoded frames waiting for the writer
	queued  int    // requests in wbuf and open; at most Config.QueueLen
	pending map[uint64]*request

	// Coalescing (coalesce.go): batches filling up for the next write,
	// their bytes, the member IDs of batches awaiting a reply, and spare
	// member lists.
	open      [numClasses]openBatch
	openBytes int
	batches   map[uint64][]uint64
	freeIDs   [][]uint64
}

func newConn(n *node, nc net.Conn) *conn {
	return &conn{
		node:       n,
		nc:         nc,
		kick:       make(chan struct{}, 1),
		readerDone: make(chan struct{}),
		fr:         frameReader{r: nc},
		nextID:     1,
		pending:    make(map[uint64]*request),
	}
}

type enqueueResult uint8

const (
	enqueued enqueueResult = iota
	enqueueFull
	enqueueClosed
)

// enqueue assigns r an ID, appends its frame (sealed, with its ID patched,
// or encoded from items) to the write buffer, or its one item to an open
// batch when coalesce is at least r.size+batchCountSize (the largest
// coalesced frame; see coalesceLimit), and inserts r into the pending
// table, all under mu. Every ID below nextID is in the buffer or in an
// open batch, so swap hands all of them to the writer at once.
func (c *conn) enqueue(r *request, sealed []byte, h protocol.ReplicaHeader, items []protocol.Item, coalesce int) enqueueResult {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return enqueueClosed
	}
	// Frames whose ctx ended have left the window but not the buffer, so
	// the buffer has its own byte bound: a stuck writer cannot grow it.
	cfg := &c.node.pool.cfg
	if c.queued >= cfg.QueueLen || (c.queued > 0 && len(c.wbuf)+c.openBytes+r.size > cfg.MaxInFlightBytes) {
		c.mu.Unlock()
		return enqueueFull
	}
	switch {
	case sealed == nil && len(items) == 1 && coalesce >= r.size+batchCountSize:
		c.coalesce(r, h, items[0], coalesce)
	case sealed != nil:
		r.id = c.nextID
		c.nextID++
		start := len(c.wbuf)
		c.wbuf = append(c.wbuf, sealed...)
		setFrameID(c.wbuf[start:], r.id)
	default:
		r.id = c.nextID
		c.nextID++
		c.wbuf = appendRequest(c.wbuf, r.id, h, items)
	}
	r.refs.Add(1) // the table's: dropped by whoever completes r
	c.pending[r.id] = r
	c.queued++
	wake := c.queued == 1
	r.conn.Store(c)
	c.mu.Unlock()
	if wake {
		select {
		case c.kick <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return enqueued
}

// take removes and returns the request with the given ID, or nil if it
// has completed already (its ctx ended) or was never issued.
func (c *conn) take(id uint64) *request {
	c.mu.Lock()
	r := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	return r
}

// remove removes r if it is still pending and reports whether it did.
func (c *conn) remove(r *request) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[r.id] != r {
		return false
	}
	delete(c.pending, r.id)
	return true
}

// run runs the connection until it fails or the node stops: the reader on
// a new goroutine, the writer on this one. It returns why the connection
// ended once both are done; the caller then calls shutdown.
func (c *conn) run() error {
	// Closing the socket is what stops both loops, for every reason.
	stopClose := context.AfterFunc(c.node.ctx, func() { c.nc.Close() })
	defer stopClose()
	go c.readLoop()
	err := c.writeLoop()
	c.nc.Close()
	<-c.readerDone
	if err == nil {
		err = c.readErr
	}
	return err
}

// writeLoop writes queued frames until a write fails or the reader ends.
func (c *conn) writeLoop() error {
	var spare []byte
	st := &c.node.stats
	for {
		select {
		case <-c.kick:
		case <-c.readerDone:
			return nil
		}
		// Yield once so senders that are runnable now append their frames
		// to this batch: DESIGN §7 measured about 3x more frames per write.
		runtime.Gosched()
		out, requests := c.swap(spare)
		if requests == 0 {
			spare = out
			continue
		}
		if _, err := c.nc.Write(out); err != nil {
			return fmt.Errorf("cannot write to node %s: %w", c.node.id, err)
		}
		st.writes.Add(1)
		st.sent.Add(uint64(requests))
		spare = nil
		if cap(out) <= maxKeptWriteBuf {
			spare = out[:0]
		}
	}
}

// swap closes the open batches and takes the queued frames, leaving spare
// as the new write buffer, and marks their IDs written: from here on their
// outcome is unknown. It returns how many requests the frames carry.
func (c *conn) swap(spare []byte) (out []byte, requests int) {
	c.mu.Lock()
	c.closeOpen()
	out, requests = c.wbuf, c.queued
	c.wbuf, c.queued = spare, 0
	c.written = c.nextID - 1
	c.mu.Unlock()
	return out, requests
}

// shutdown closes the pending table and fails every request in it: with
// an unknown-class error if it was written, a failed-class one if not.
func (c *conn) shutdown(cause error) {
	c.mu.Lock()
	c.closed = true
	pending, written := c.pending, c.written
	c.pending, c.wbuf, c.queued = nil, nil, 0
	c.open, c.openBytes, c.batches, c.freeIDs = [numClasses]openBatch{}, 0, nil, nil
	c.mu.Unlock()

	// Built once per connection, shared by every request failed here.
	lost, notWritten := both(ErrConnLost, cause), both(ErrNotWritten, cause)
	for id, r := range pending {
		if id <= written {
			r.complete(replica.Reply{Err: lost})
		} else {
			r.complete(replica.Reply{Err: notWritten})
		}
	}
}

// queueLen reports the frames waiting for the writer.
func (c *conn) queueLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued
}
