package protocol

// Replica operations run between a daemon and a storage node. Every request
// body starts with a ReplicaHeader; every reply body starts with a
// ReplicaStamp, so both sides merge clocks and epochs on every message.
//
// Request prefix (20 bytes):  epoch u64 | ring u64 | deadline_ms u32
// Reply prefix (16 bytes):    clock u64 | epoch u64
//
// An item is one key operation:
//
//	kind       u8    ItemPut, ItemDel or ItemGet
//	partition  u32   the key's ring partition (the node stores keys under it)
//	version    12 B  (ItemPut and ItemDel only)
//	key        u16 len + bytes
//	value      u32 len + bytes (ItemPut only)
//
// RPUT, RDEL and RGET bodies are the prefix plus one item of the matching
// kind. An RBATCH body is the prefix, count u16, and count items of any kind.
//
// A result is one item's answer:
//
//	status   u8    OK, NOT_FOUND, SUPERSEDED, TIMEOUT, INTERNAL, ...
//	flags    u8    ResultTombstone if the stored version is a delete
//	version  12 B  the version now stored (for a write: the item's own if
//	               applied, else the newer one that beat it)
//	value    u32 len + bytes (OK answers to ItemGet only; else length 0)
//
// RPUT/RDEL/RGET replies are the reply prefix plus one result; the header
// status equals the result status. RBATCH replies are the prefix, count
// u16, and count results in request order, with header status OK.

// ReplicaHeader leads every replica request.
type ReplicaHeader struct {
	Epoch      uint64 // the sender's ring epoch
	Ring       uint64 // that ring's fingerprint (ring.Ring.Hash); 0 = unknown
	DeadlineMs uint32 // remaining budget in ms from arrival; 0 = node default
}

// ReplicaHeaderSize is the encoded size of a ReplicaHeader.
const ReplicaHeaderSize = 8 + 8 + 4

// ReplicaStamp leads every replica reply.
type ReplicaStamp struct {
	Clock uint64 // the node's HLC after handling the request
	Epoch uint64 // the highest ring epoch the node has seen
}

// ItemKind is the operation of one replica item.
type ItemKind uint8

const (
	ItemPut ItemKind = 1
	ItemDel ItemKind = 2
	ItemGet ItemKind = 3
)

// Item is one replica key operation. Key and Value alias the frame.
type Item struct {
	Kind      ItemKind
	Partition uint32
	Version   Version // ItemPut, ItemDel
	Key       []byte
	Value     []byte // ItemPut
}

// ResultFlags are per-result bits.
type ResultFlags uint8

// ResultTombstone marks a stored version that is a delete.
const ResultTombstone ResultFlags = 1

// Result is one item's answer. Value aliases the frame.
type Result struct {
	Status  Status
	Flags   ResultFlags
	Version Version
	Value   []byte
}

func (k ItemKind) opcode() Opcode {
	switch k {
	case ItemPut:
		return OpReplicaPut
	case ItemDel:
		return OpReplicaDel
	case ItemGet:
		return OpReplicaGet
	}
	return 0
}

func appendReplicaHeader(dst []byte, h ReplicaHeader) []byte {
	return appendU32(appendU64(appendU64(dst, h.Epoch), h.Ring), h.DeadlineMs)
}

// replicaHeader reads the prefix every replica request starts with.
func (c *cursor) replicaHeader() ReplicaHeader {
	return ReplicaHeader{Epoch: c.u64(), Ring: c.u64(), DeadlineMs: c.u32()}
}

// appendStamp and stamp write and read the prefix of every replica reply.
func appendStamp(dst []byte, st ReplicaStamp) []byte {
	return appendU64(appendU64(dst, st.Clock), st.Epoch)
}

func (c *cursor) stamp() ReplicaStamp {
	return ReplicaStamp{Clock: c.u64(), Epoch: c.u64()}
}

func appendItem(dst []byte, start int, it Item) []byte {
	dst = appendU8(dst, uint8(it.Kind))
	dst = appendU32(dst, it.Partition)
	if it.Kind != ItemGet {
		dst = appendVersion(dst, it.Version)
	}
	dst = appendBytes16(dst, start, it.Key)
	if it.Kind == ItemPut {
		dst = appendBytes32(dst, it.Value)
	}
	return dst
}

func (c *cursor) item() Item {
	it := Item{Kind: ItemKind(c.u8()), Partition: c.u32()}
	switch it.Kind {
	case ItemPut, ItemDel, ItemGet:
	default:
		if c.err == nil {
			c.err = ErrMalformed
		}
		return Item{}
	}
	if it.Kind != ItemGet {
		it.Version = c.version()
	}
	it.Key = c.bytes16()
	if it.Kind == ItemPut {
		it.Value = c.bytes32()
	}
	return it
}

func appendResult(dst []byte, r Result) []byte {
	dst = appendU8(dst, uint8(r.Status))
	dst = appendU8(dst, uint8(r.Flags))
	dst = appendVersion(dst, r.Version)
	return appendBytes32(dst, r.Value)
}

func (c *cursor) result() Result {
	r := Result{Status: Status(c.u8()), Flags: ResultFlags(c.u8())}
	r.Version = c.version()
	r.Value = c.bytes32()
	return r
}

// AppendReplicaOp appends a whole RPUT, RDEL or RGET frame for one item;
// the opcode follows the item's kind.
func AppendReplicaOp(dst []byte, id uint64, h ReplicaHeader, it Item) []byte {
	dst, start := beginFrame(dst, it.Kind.opcode(), 0, 0, id)
	dst = appendReplicaHeader(dst, h)
	dst = appendItem(dst, start, it)
	return endFrame(dst, start)
}

// DecodeReplicaOp parses an RPUT, RDEL or RGET body and checks that the
// item kind matches the opcode.
func DecodeReplicaOp(op Opcode, body []byte) (ReplicaHeader, Item, error) {
	c := cursor{b: body}
	h := c.replicaHeader()
	it := c.item()
	if err := c.done(); err != nil {
		return ReplicaHeader{}, Item{}, err
	}
	if it.Kind.opcode() != op {
		return ReplicaHeader{}, Item{}, ErrMalformed
	}
	return h, it, nil
}

// ReplicaBatchWriter builds an RBATCH request item by item.
type ReplicaBatchWriter struct {
	buf   []byte
	start int
	count int
}

// BeginReplicaBatch starts an RBATCH request frame in dst.
func BeginReplicaBatch(dst []byte, id uint64, h ReplicaHeader) ReplicaBatchWriter {
	dst, start := beginFrame(dst, OpReplicaBatch, 0, 0, id)
	dst = appendReplicaHeader(dst, h)
	dst = appendU16(dst, 0) // count, patched by Finish
	return ReplicaBatchWriter{buf: dst, start: start}
}

// Add appends one item. The caller keeps the count within the limits.
func (w *ReplicaBatchWriter) Add(it Item) {
	w.buf = appendItem(w.buf, w.start, it)
	w.count++
}

// Count is the number of items added so far.
func (w *ReplicaBatchWriter) Count() int { return w.count }

// Len is the size of the frame so far, in bytes.
func (w *ReplicaBatchWriter) Len() int { return len(w.buf) - w.start }

// Finish completes the frame and returns the buffer.
func (w *ReplicaBatchWriter) Finish() []byte {
	le.PutUint16(w.buf[w.start+HeaderSize+ReplicaHeaderSize:], uint16(w.count))
	return endFrame(w.buf, w.start)
}

// ReplicaBatch is a decoded RBATCH body. Decoding validates every item, so
// Next cannot fail; iterating allocates nothing.
type ReplicaBatch struct {
	ReplicaHeader
	Count int
	rest  []byte
}

// DecodeReplicaBatch parses an RBATCH body.
func DecodeReplicaBatch(body []byte) (ReplicaBatch, error) {
	c := cursor{b: body}
	b := ReplicaBatch{ReplicaHeader: c.replicaHeader(), Count: int(c.u16())}
	b.rest = c.b
	for i := 0; i < b.Count && c.err == nil; i++ {
		c.item()
	}
	if err := c.done(); err != nil {
		return ReplicaBatch{}, err
	}
	return b, nil
}

// Next returns the next item; ok is false after the last one.
func (b *ReplicaBatch) Next() (it Item, ok bool) {
	if len(b.rest) == 0 {
		return Item{}, false
	}
	c := cursor{b: b.rest}
	it = c.item()
	b.rest = c.b
	return it, true
}

// AppendReplicaReply appends a whole RPUT, RDEL or RGET reply frame; the
// header status is the result's.
func AppendReplicaReply(dst []byte, op Opcode, id uint64, st ReplicaStamp, r Result) []byte {
	dst, start := beginFrame(dst, op, FlagReply, r.Status, id)
	dst = appendStamp(dst, st)
	dst = appendResult(dst, r)
	return endFrame(dst, start)
}

// DecodeReplicaReply parses the body of an RPUT, RDEL or RGET reply. An
// empty body (a request refused before processing) gives a zero stamp and
// a result holding only the header status.
func DecodeReplicaReply(h Header, body []byte) (ReplicaStamp, Result, error) {
	if len(body) == 0 {
		return ReplicaStamp{}, Result{Status: h.Status}, nil
	}
	c := cursor{b: body}
	st := c.stamp()
	r := c.result()
	return st, r, c.done()
}

// ReplicaBatchReplyWriter builds an RBATCH reply result by result.
type ReplicaBatchReplyWriter struct {
	buf   []byte
	start int
	count int
}

// BeginReplicaBatchReply starts an RBATCH reply in dst. The stamp is
// written by Finish, so it reflects the clock after the whole batch.
func BeginReplicaBatchReply(dst []byte, id uint64) ReplicaBatchReplyWriter {
	dst, start := beginFrame(dst, OpReplicaBatch, FlagReply, StatusOK, id)
	dst = append(dst, make([]byte, 18)...) // stamp and count, patched by Finish
	return ReplicaBatchReplyWriter{buf: dst, start: start}
}

// Add appends one result.
func (w *ReplicaBatchReplyWriter) Add(r Result) {
	w.buf = appendResult(w.buf, r)
	w.count++
}

// Finish writes the stamp and count and returns the buffer.
func (w *ReplicaBatchReplyWriter) Finish(st ReplicaStamp) []byte {
	p := w.start + HeaderSize
	le.PutUint64(w.buf[p:], st.Clock)
	le.PutUint64(w.buf[p+8:], st.Epoch)
	le.PutUint16(w.buf[p+16:], uint16(w.count))
	return endFrame(w.buf, w.start)
}

// ReplicaBatchReply is a decoded RBATCH reply body.
type ReplicaBatchReply struct {
	ReplicaStamp
	Count int
	rest  []byte
}

// DecodeReplicaBatchReply parses the body of an OK RBATCH reply.
func DecodeReplicaBatchReply(body []byte) (ReplicaBatchReply, error) {
	c := cursor{b: body}
	r := ReplicaBatchReply{ReplicaStamp: c.stamp(), Count: int(c.u16())}
	r.rest = c.b
	for i := 0; i < r.Count && c.err == nil; i++ {
		c.result()
	}
	if err := c.done(); err != nil {
		return ReplicaBatchReply{}, err
	}
	return r, nil
}

// Next returns the next result; ok is false after the last one.
func (r *ReplicaBatchReply) Next() (res Result, ok bool) {
	if len(r.rest) == 0 {
		return Result{}, false
	}
	c := cursor{b: r.rest}
	res = c.result()
	r.rest = c.b
	return res, true
}
