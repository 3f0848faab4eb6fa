package link

import (
	"fmt"
	"io"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// Read buffer sizing: one read syscall picks up many pipelined replies; a
// buffer grown for one huge reply shrinks back once it is consumed.
const (
	readBufSize    = 64 << 10
	maxKeptReadBuf = 1 << 20
	maxKeptScratch = 1 << 20
)

// frameReader cuts frames out of a byte stream with few, large reads.
type frameReader struct {
	r          io.Reader
	buf        []byte
	start, end int   // buf[start:end] is read but not yet decoded
	err        error // sticky read error, reported once buffered frames are used
}

// next returns the next frame. Its body aliases the buffer and is valid
// only until the next call. A frame over max is an error (the stream
// cannot be resynchronised), found from its header before it is buffered.
func (fr *frameReader) next(max int) (protocol.Frame, error) {
	for {
		f, n, err := protocol.Decode(fr.buf[fr.start:fr.end], max)
		if err == nil {
			fr.start += n
			return f, nil
		}
		if err != protocol.ErrIncomplete {
			return f, err
		}
		if fr.err != nil {
			return f, fr.err
		}
		fr.fill(fr.need(max))
	}
}

// need is how many buffered bytes the frame at the front requires.
func (fr *frameReader) need(max int) int {
	h, err := protocol.DecodeHeader(fr.buf[fr.start:fr.end], max)
	if err != nil {
		return protocol.HeaderSize // incomplete header; Decode checks the rest
	}
	return protocol.HeaderSize + int(h.Length)
}

// fill makes room for need bytes from start, then reads once.
func (fr *frameReader) fill(need int) {
	if fr.start == fr.end {
		fr.start, fr.end = 0, 0
		if cap(fr.buf) > maxKeptReadBuf {
			fr.buf = nil
		}
	}
	if fr.buf == nil {
		fr.buf = make([]byte, max(readBufSize, need))
	}
	if fr.start+need > len(fr.buf) {
		if need > len(fr.buf) {
			nb := make([]byte, max(need, 2*len(fr.buf)))
			fr.end = copy(nb, fr.buf[fr.start:fr.end])
			fr.buf = nb
		} else {
			fr.end = copy(fr.buf, fr.buf[fr.start:fr.end])
		}
		fr.start = 0
	}
	n, err := fr.r.Read(fr.buf[fr.end:])
	fr.end += n
	if err != nil {
		fr.err = err
	}
}

// readLoop completes requests from replies until the stream fails.
func (c *conn) readLoop() {
	defer close(c.readerDone)
	maxFrame := c.node.pool.cfg.Limits.MaxFrameSize
	for {
		f, err := c.fr.next(maxFrame)
		if err == nil {
			err = c.handle(f)
		}
		if err != nil {
			c.readErr = fmt.Errorf("cannot read from node %s: %w", c.node.id, err)
			return
		}
	}
}

// handle completes the request a reply answers. A reply with no pending
// request (its ctx ended, or an ID never issued) is dropped.
func (c *conn) handle(f protocol.Frame) error {
	if !f.IsReply() {
		return ErrProtocol
	}
	r := c.take(f.ID)
	if r == nil {
		if c.takeBatch(f.ID) {
			c.split(f)
		} else {
			c.node.stats.late.Add(1)
		}
		return nil
	}
	if err := r.ctx.Err(); err != nil {
		// Its ctx ended before the sweeper saw it: the reply is late,
		// exactly as if the sweeper had been first.
		c.node.stats.late.Add(1)
		r.expire(err)
		return nil
	}
	rep := c.decode(r, f)
	if rep.Err == nil {
		c.node.recordSuccess()
	}
	if onStamp := c.node.pool.cfg.OnStamp; onStamp != nil && rep.Stamp != (protocol.ReplicaStamp{}) {
		onStamp(rep.Stamp)
	}
	r.complete(rep)
	return nil
}

// decode turns a reply into a Reply that owns its memory.
func (c *conn) decode(r *request, f protocol.Frame) replica.Reply {
	if f.Op != r.op {
		return replica.Reply{Err: ErrBadReply}
	}
	body, err := c.openBody(f)
	if err != nil {
		return replica.Reply{Err: err}
	}
	if r.raw != nil {
		return r.raw(f.Header, body)
	}
	if r.op == protocol.OpReplicaBatch {
		return decodeBatchReply(f.Header, body, r.items)
	}
	return decodeSingleReply(f.Header, body, &r.one)
}

// openBody returns f's plain body: decompressed into the reader's
// scratch, or aliasing the read buffer.
func (c *conn) openBody(f protocol.Frame) ([]byte, error) {
	body, err := f.Open(c.scratch, c.node.pool.cfg.Limits.MaxFrameSize)
	if err != nil {
		return nil, both(ErrBadReply, err)
	}
	if f.Flags&protocol.FlagCompressed != 0 && cap(body) <= maxKeptScratch {
		c.scratch = body[:0] // keep a grown scratch for the next compressed reply
	}
	return body, nil
}

func decodeSingleReply(h protocol.Header, body []byte, one *[1]protocol.Result) replica.Reply {
	if len(body) == 0 && h.Status.Outcome() != protocol.OutcomeOK {
		return replica.Reply{Err: NodeStatusError(h.Status)} // refused before processing
	}
	st, res, err := protocol.DecodeReplicaReply(h, body)
	if err != nil {
		return replica.Reply{Err: both(ErrBadReply, err)}
	}
	res.Value = clone(res.Value)
	one[0] = res
	return replica.Reply{Stamp: st, Results: one[:]}
}

func decodeBatchReply(h protocol.Header, body []byte, items int) replica.Reply {
	if h.Status != protocol.StatusOK {
		return replica.Reply{Err: NodeStatusError(h.Status)} // the whole batch was refused
	}
	br, err := protocol.DecodeReplicaBatchReply(body)
	if err != nil {
		return replica.Reply{Err: both(ErrBadReply, err)}
	}
	if br.Count != items {
		return replica.Reply{Stamp: br.ReplicaStamp, Err: ErrBadReply}
	}
	results := make([]protocol.Result, 0, br.Count)
	total := 0
	for it := br; ; {
		res, ok := it.Next()
		if !ok {
			break
		}
		total += len(res.Value)
	}
	// One allocation holds every value: the read buffer is reused.
	slab := make([]byte, 0, total)
	for {
		res, ok := br.Next()
		if !ok {
			break
		}
		v := res.Value
		res.Value = nil
		if len(v) > 0 {
			start := len(slab)
			slab = append(slab, v...)
			res.Value = slab[start:len(slab):len(slab)]
		}
		results = append(results, res)
	}
	return replica.Reply{Stamp: br.ReplicaStamp, Results: results}
}

// clone copies b into memory the caller owns; nil and empty stay nil.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
