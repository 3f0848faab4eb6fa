package storage

import (
	"sync"
	"time"

	"github.com/distridata/distridata/protocol"
)

// maxKeptItems: a pooled request keeps item slices up to this length, the
// default batch limit, and drops larger ones.
const maxKeptItems = protocol.DefaultMaxBatchKeys

// request is a write (RPUT, RDEL, or an RBATCH holding a write) on its way
// through the committer. Items alias body, which the request owns until
// its reply is queued.
type request struct {
	c        *conn
	op       protocol.Opcode
	id       uint64
	size     int       // in-flight bytes held (the frame)
	deadline time.Time // not executed after this
	expired  bool      // the deadline passed before execution
	body     *[]byte
	items    []protocol.Item
	results  []protocol.Result // preset non-OK statuses are refusals; OK = to do
	one      [1]protocol.Item  // backing for single-item requests
	oneRes   [1]protocol.Result
	batch    []protocol.Item // pooled backing for batches
	batchRes []protocol.Result
}

var requestPool = sync.Pool{New: func() any { return new(request) }}

func newRequest(c *conn, h protocol.Header, size int, body *[]byte, deadline time.Time) *request {
	r := requestPool.Get().(*request)
	r.c, r.op, r.id, r.size, r.body, r.deadline = c, h.Op, h.ID, size, body, deadline
	return r
}

// setOne makes it the request's only item.
func (r *request) setOne(it protocol.Item) {
	r.one[0] = it
	r.oneRes[0] = protocol.Result{}
	r.items, r.results = r.one[:], r.oneRes[:]
}

// grow sizes items and results for n entries, reusing pooled capacity.
func (r *request) grow(n int) {
	if cap(r.batch) < n {
		r.batch = make([]protocol.Item, 0, n)
		r.batchRes = make([]protocol.Result, 0, n)
	}
	r.items, r.results = r.batch[:0], r.batchRes[:0]
}

// free returns the body and the request to their pools.
func (r *request) free() {
	putBuf(r.body)
	clear(r.items) // drop references into the body (the used part only)
	clear(r.results)
	batch, batchRes := r.batch, r.batchRes
	if cap(batch) > maxKeptItems {
		batch, batchRes = nil, nil
	}
	*r = request{batch: batch[:0], batchRes: batchRes[:0]}
	requestPool.Put(r)
}

// encodeReply appends r's reply to dst: a single-item reply for RPUT and
// RDEL, a batch reply otherwise.
func (r *request) encodeReply(dst []byte, st protocol.ReplicaStamp) []byte {
	if r.op != protocol.OpReplicaBatch {
		return protocol.AppendReplicaReply(dst, r.op, r.id, st, r.results[0])
	}
	w := protocol.BeginReplicaBatchReply(dst, r.id)
	for _, res := range r.results {
		w.Add(res)
	}
	return w.Finish(st)
}
