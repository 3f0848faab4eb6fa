package protocol

// MPUT and MGET carry many keys in one frame; their replies carry one
// result per key, in request order. The header status of a batch reply is
// OK when the batch was processed, whatever the per-key statuses; a
// non-OK header status (BAD_REQUEST, TOO_LARGE, BUSY, ...) means the whole
// batch was refused and the body is empty.
//
// MPUT body:  options | count u16 | count × (key u16 len+bytes, value u32 len+bytes)
// MGET body:  options | count u16 | count × (key u16 len+bytes)
// MPUT reply: count u16 | count × (status u8, version 12 bytes)
// MGET reply: count u16 | count × (status u8, version 12 bytes, value u32 len+bytes)

// KV is one key and value of a batch. Both alias the frame they came from.
type KV struct {
	Key, Value []byte
}

// AppendMPut appends a whole MPUT request frame.
func AppendMPut(dst []byte, id uint64, o Options, kvs []KV) []byte {
	dst, start := beginFrame(dst, OpMPut, 0, 0, id)
	dst = appendOptions(dst, o)
	dst = appendU16(dst, uint16(len(kvs)))
	for _, kv := range kvs {
		dst = appendBytes16(dst, start, kv.Key)
		dst = appendBytes32(dst, kv.Value)
	}
	return endFrame(dst, start)
}

// AppendMGet appends a whole MGET request frame.
func AppendMGet(dst []byte, id uint64, o Options, keys [][]byte) []byte {
	dst, start := beginFrame(dst, OpMGet, 0, 0, id)
	dst = appendOptions(dst, o)
	dst = appendU16(dst, uint16(len(keys)))
	for _, k := range keys {
		dst = appendBytes16(dst, start, k)
	}
	return endFrame(dst, start)
}

// Batch is a decoded MPUT or MGET body. Decoding validates the whole body
// once, so Next cannot fail; iterating allocates nothing.
type Batch struct {
	Options
	Count  int
	values bool // MPUT items carry values
	rest   []byte
}

// DecodeMPut parses an MPUT body.
func DecodeMPut(body []byte) (Batch, error) { return decodeBatch(body, true) }

// DecodeMGet parses an MGET body.
func DecodeMGet(body []byte) (Batch, error) { return decodeBatch(body, false) }

func decodeBatch(body []byte, values bool) (Batch, error) {
	c := cursor{b: body}
	b := Batch{Options: c.options(), Count: int(c.u16()), values: values}
	b.rest = c.b
	for i := 0; i < b.Count && c.err == nil; i++ {
		c.bytes16()
		if values {
			c.bytes32()
		}
	}
	if err := c.done(); err != nil {
		return Batch{}, err
	}
	return b, nil
}

// Next returns the next item; ok is false after the last one. For MGET,
// Value is nil.
func (b *Batch) Next() (kv KV, ok bool) {
	if len(b.rest) == 0 {
		return KV{}, false
	}
	c := cursor{b: b.rest}
	kv.Key = c.bytes16()
	if b.values {
		kv.Value = c.bytes32()
	}
	b.rest = c.b
	return kv, true
}

// ItemStatus is one key's result in an MPUT or MGET reply. Value is empty
// for MPUT.
type ItemStatus struct {
	Status  Status
	Version Version
	Value   []byte // aliases the frame
}

// BatchReplyWriter builds an MPUT or MGET reply item by item, so results can
// be written as they are gathered without an intermediate slice.
type BatchReplyWriter struct {
	buf   []byte
	start int
	op    Opcode
}

// BeginBatchReply starts an MPUT or MGET reply of count items in dst.
func BeginBatchReply(dst []byte, op Opcode, id uint64, count int) BatchReplyWriter {
	dst, start := beginFrame(dst, op, FlagReply, StatusOK, id)
	dst = appendU16(dst, uint16(count))
	return BatchReplyWriter{buf: dst, start: start, op: op}
}

// Add appends one item's result. For MPUT the value is not written.
func (w *BatchReplyWriter) Add(it ItemStatus) {
	w.buf = appendU8(w.buf, uint8(it.Status))
	w.buf = appendVersion(w.buf, it.Version)
	if w.op == OpMGet {
		w.buf = appendBytes32(w.buf, it.Value)
	}
}

// Finish completes the frame and returns the buffer.
func (w *BatchReplyWriter) Finish() []byte { return endFrame(w.buf, w.start) }

// BatchReply is a decoded MPUT or MGET reply body.
type BatchReply struct {
	Count  int
	values bool
	rest   []byte
}

// DecodeBatchReply parses the body of an OK MPUT or MGET reply.
func DecodeBatchReply(op Opcode, body []byte) (BatchReply, error) {
	c := cursor{b: body}
	r := BatchReply{Count: int(c.u16()), values: op == OpMGet}
	r.rest = c.b
	for i := 0; i < r.Count && c.err == nil; i++ {
		c.u8()
		c.version()
		if r.values {
			c.bytes32()
		}
	}
	if err := c.done(); err != nil {
		return BatchReply{}, err
	}
	return r, nil
}

// Next returns the next item's result; ok is false after the last one.
func (r *BatchReply) Next() (it ItemStatus, ok bool) {
	if len(r.rest) == 0 {
		return ItemStatus{}, false
	}
	c := cursor{b: r.rest}
	it.Status = Status(c.u8())
	it.Version = c.version()
	if r.values {
		it.Value = c.bytes32()
	}
	r.rest = c.b
	return it, true
}
