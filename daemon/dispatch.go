package daemon

import (
	"errors"

	"github.com/distridata/distridata/protocol"
)

// dispatch admits a data request: it charges the memory budget (or
// answers BUSY), copies the body once, decodes and validates it, takes a
// window slot and starts the request (PUT, DEL, GET on an asyncStore) or
// hands it to a worker goroutine. n is the frame size.
// Loop only.
func (s *session) dispatch(f *protocol.Frame, n int, now int64) string {
	fe, t := s.fe, s.tun
	charge := int64(len(f.Body) + requestOverhead)
	// Replies queued for slow readers count too: they are memory the
	// daemon holds until those clients read.
	if fe.m.memInFlight.Add(charge)+fe.m.memOutput.Load() > t.memoryBudget {
		fe.m.memInFlight.Add(-charge)
		fe.m.busy.Add(1)
		s.queueStatus(f.Op, f.ID, protocol.StatusBusy)
		return ""
	}
	buf, body, err := copyBody(f, t.limits.MaxFrameSize)
	if err != nil {
		fe.m.memInFlight.Add(-charge)
		return s.refuse(f.Header, err, f.Body)
	}
	// A compressed body grows when opened: charge what is really held.
	if extra := int64(len(body) - len(f.Body)); extra > 0 {
		fe.m.memInFlight.Add(extra)
		charge += extra
	}
	r := getRequest()
	r.s, r.tun, r.op, r.id, r.start, r.buf, r.window, r.charge = s, t, f.Op, f.ID, now, buf, n, charge
	if err := r.decode(body, &t.limits); err != nil {
		putBuf(r.buf)
		r.free()
		fe.m.memInFlight.Add(-charge)
		if errors.Is(err, protocol.ErrMalformed) {
			return s.refuse(f.Header, err, f.Body)
		}
		// A field over its limit in a well-formed frame: the stream is
		// in sync, so answer and go on.
		s.queueStatus(f.Op, f.ID, protocol.StatusOf(err))
		return ""
	}
	r.replyEst = s.reserve(f.Op, n)
	fe.m.inFlight.Add(1)
	fe.workers.Add(1)
	if fe.async != nil && f.Op != protocol.OpMPut && f.Op != protocol.OpMGet {
		// r may be answered and freed before start returns.
		fe.start(r)
		return ""
	}
	// A goroutine per request, bounded by the windows and the memory
	// budget, reused from a pool: a new goroutine grew its stack on every
	// request (workers.go).
	fe.hand(r)
	return ""
}

// copyBody returns the plain body of f in a pooled buffer: the one copy
// of the request, made before gnet reuses its input buffer. A compressed
// body is decompressed straight into it (that is the copy).
func copyBody(f *protocol.Frame, maxFrame int) (*[]byte, []byte, error) {
	buf := getBuf(len(f.Body))
	if f.Flags&protocol.FlagCompressed == 0 {
		body, err := f.Open(nil, maxFrame) // verifies a checksum, no copy
		if err != nil {
			putBuf(buf)
			return nil, nil, err
		}
		*buf = append(*buf, body...)
		return buf, *buf, nil
	}
	body, err := f.Open(*buf, maxFrame-protocol.HeaderSize)
	if err != nil {
		putBuf(buf)
		return nil, nil, err
	}
	if cap(body) != cap(*buf) { // Open outgrew the pooled buffer
		putBuf(buf)
		buf = &body
	}
	*buf = body
	return buf, body, nil
}

// decode parses and validates the body of r.op into r's fields, which
// alias body. Errors are protocol sentinels: ErrMalformed closes the
// connection; limit errors are answered per request.
func (r *request) decode(body []byte, lim *protocol.Limits) error {
	switch r.op {
	case protocol.OpPut:
		p, err := protocol.DecodePut(body)
		if err != nil {
			return err
		}
		r.opts, r.key, r.value = p.Options, p.Key, p.Value
		return firstErr(lim.CheckKey(p.Key), lim.CheckValue(p.Value))
	case protocol.OpGet, protocol.OpDel:
		k, err := protocol.DecodeKeyRequest(body)
		if err != nil {
			return err
		}
		r.opts, r.key = k.Options, k.Key
		return lim.CheckKey(k.Key)
	case protocol.OpMPut:
		b, err := protocol.DecodeMPut(body)
		if err != nil {
			return err
		}
		return r.decodeBatch(b, lim)
	case protocol.OpMGet:
		b, err := protocol.DecodeMGet(body)
		if err != nil {
			return err
		}
		return r.decodeBatch(b, lim)
	}
	return protocol.ErrUnknownOpcode
}

// decodeBatch collects a batch's items. Any item over its limits refuses
// the whole batch: nothing of it is applied.
func (r *request) decodeBatch(b protocol.Batch, lim *protocol.Limits) error {
	r.opts = b.Options
	if err := lim.CheckBatch(b.Count); err != nil {
		return err
	}
	for kv, ok := b.Next(); ok; kv, ok = b.Next() {
		if err := firstErr(lim.CheckKey(kv.Key), lim.CheckValue(kv.Value)); err != nil {
			return err
		}
		if r.op == protocol.OpMPut {
			r.kvs = append(r.kvs, kv)
		} else {
			r.keys = append(r.keys, kv.Key)
		}
	}
	if cap(r.items) < b.Count {
		r.items = make([]protocol.ItemStatus, b.Count)
	}
	r.items = r.items[:b.Count] // free() cleared them
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
