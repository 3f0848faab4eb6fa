package daemon

import (
	"sync"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// request is one data operation handed from the loop to a goroutine. Its
// byte slices alias buf, the one copy of the request body.
type request struct {
	s        *session
	tun      *tunables // the settings it was admitted under, to its reply
	op       protocol.Opcode
	id       uint64
	opts     protocol.Options
	start    int64   // arrival, unix ns: deadlines count from here
	buf      *[]byte // pooled copy of the plain body
	window   int     // frame bytes held in the session's window
	replyEst int     // reply bytes charged to its output window
	charge   int64   // bytes held in the memory budget

	key, value []byte                // PUT, GET, DEL
	kvs        []protocol.KV         // MPUT
	keys       [][]byte              // MGET
	items      []protocol.ItemStatus // MPUT, MGET results

	// answerFn is r.answer, bound once per pooled request: passing the
	// method value per request would allocate its closure every time.
	answerFn replica.Done
}

// result is a request's outcome, encoded by appendReply.
type result struct {
	status  protocol.Status
	version protocol.Version
	value   []byte // GET; owned by the request goroutine
}

var requestPool sync.Pool // of *request; New would make an initialization cycle

func getRequest() *request {
	if r, ok := requestPool.Get().(*request); ok {
		return r
	}
	r := new(request)
	r.answerFn = r.answer
	return r
}

// free returns r to its pool with its slices cleared, so a pooled request
// pins neither a body nor a value. Batch slices keep their capacity, which
// Limits.MaxBatchKeys bounds.
func (r *request) free() {
	clear(r.kvs)
	clear(r.keys)
	clear(r.items)
	*r = request{kvs: r.kvs[:0], keys: r.keys[:0], items: r.items[:0], answerFn: r.answerFn}
	requestPool.Put(r)
}

// timeout is the request's time budget from arrival.
func (r *request) deadline(def time.Duration) time.Time {
	d := def
	if r.opts.DeadlineMs > 0 {
		d = time.Duration(r.opts.DeadlineMs) * time.Millisecond
	}
	return time.Unix(0, r.start).Add(d)
}

// serve runs r against the store and queues its reply. It runs on a
// worker goroutine, owned by the frontend (workers.go), whose ctx it arms:
// the ctx ends at the request's deadline, or when the frontend's base ctx
// is cancelled at a hard shutdown.
func (fe *frontend) serve(ctx *reqCtx, r *request) {
	defer fe.workers.Done()
	ctx.arm(r.deadline(r.tun.defaultTimeout))
	var res result
	q := int(r.opts.Quorum)
	switch r.op {
	case protocol.OpPut:
		var err error
		res.version, err = fe.store.Put(ctx, r.key, r.value, q)
		res.status = protocol.StatusOf(err)
	case protocol.OpDel:
		var err error
		res.version, err = fe.store.Del(ctx, r.key, q)
		res.status = protocol.StatusOf(err)
	case protocol.OpGet:
		var err error
		res.value, res.version, err = fe.store.Get(ctx, r.key, q)
		res.status = protocol.StatusOf(err)
	case protocol.OpMPut:
		fe.store.MPut(ctx, r.kvs, q, r.items)
	case protocol.OpMGet:
		fe.store.MGet(ctx, r.keys, q, r.items)
	}
	ctx.disarm()
	fe.finish(r, &res)
}

// start runs a PUT, DEL or GET through the store's asynchronous calls:
// nothing waits for it, and the replica callback that decides it queues
// its reply (answer). It never blocks, so the loop calls it. The request
// ends at its deadline, or at a hard shutdown (baseCtx).
func (fe *frontend) start(r *request) {
	dl := r.deadline(r.tun.defaultTimeout)
	q := int(r.opts.Quorum)
	switch r.op {
	case protocol.OpPut:
		fe.async.StartPut(fe.baseCtx, dl, r.key, r.value, q, r.answerFn)
	case protocol.OpDel:
		fe.async.StartDel(fe.baseCtx, dl, r.key, q, r.answerFn)
	case protocol.OpGet:
		fe.async.StartGet(fe.baseCtx, dl, r.key, q, r.answerFn)
	}
}

// answer is an asynchronous request's replica.Done: it runs on the
// goroutine that decided the request (a link reader, usually, or the loop
// that started it) and must not block.
func (r *request) answer(value []byte, v protocol.Version, err error) {
	res := result{status: protocol.StatusOf(err), version: v, value: value}
	fe := r.s.fe
	fe.finish(r, &res)
	fe.workers.Done()
}

// finish releases a served request's body, counts it, queues its reply
// and frees it. The store has encoded or copied what it needs from the
// body by the time it answers.
func (fe *frontend) finish(r *request, res *result) {
	putBuf(r.buf)
	r.buf = nil
	fe.m.countStatus(res.status)
	fe.m.ops.observe(r.op, res.status, time.Now().UnixNano()-r.start)
	r.s.complete(r, res)
	fe.m.memInFlight.Add(-r.charge)
	fe.m.inFlight.Add(-1)
	r.free()
}

// appendReply encodes r's reply to dst. maxFrame bounds a batch reply: the
// values that would overflow it are answered TOO_LARGE, so the client can
// always read the frame.
func appendReply(dst []byte, r *request, res *result, maxFrame int) []byte {
	switch r.op {
	case protocol.OpPut, protocol.OpDel:
		return protocol.AppendWriteReply(dst, r.op, r.id, res.status, res.version)
	case protocol.OpGet:
		return protocol.AppendGetReply(dst, r.id, res.status, protocol.GetReply{Version: res.version, Value: res.value})
	}
	w := protocol.BeginBatchReply(dst, r.op, r.id, len(r.items))
	size := protocol.HeaderSize + 2
	for _, it := range r.items {
		n := 1 + protocol.VersionSize
		if r.op == protocol.OpMGet {
			n += 4 + len(it.Value)
		}
		if size+n > maxFrame {
			it = protocol.ItemStatus{Status: protocol.StatusTooLarge}
			n = 1 + protocol.VersionSize + 4
		}
		size += n
		w.Add(it)
	}
	return w.Finish()
}
