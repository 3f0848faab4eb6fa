package protocol

// Options lead the body of every client data request:
//
//	quorum      u8   W for PUT/DEL/MPUT, R for GET/MGET; 0 = server default
//	deadline_ms u32  time budget from arrival, in ms; 0 = server default
type Options struct {
	Quorum     uint8
	DeadlineMs uint32
}

const optionsSize = 5

func appendOptions(dst []byte, o Options) []byte {
	return appendU32(appendU8(dst, o.Quorum), o.DeadlineMs)
}

func (c *cursor) options() Options {
	q := c.u8()
	return Options{Quorum: q, DeadlineMs: c.u32()}
}

// Put is a PUT request body: options, key (u16 len + bytes), value (u32 len
// + bytes). Key and Value alias the frame.
type Put struct {
	Options
	Key, Value []byte
}

// AppendPut appends a whole PUT request frame.
func AppendPut(dst []byte, id uint64, p Put) []byte {
	dst, start := beginFrame(dst, OpPut, 0, 0, id)
	dst = appendOptions(dst, p.Options)
	dst = appendBytes16(dst, start, p.Key)
	dst = appendBytes32(dst, p.Value)
	return endFrame(dst, start)
}

// DecodePut parses a PUT body. Sizes are checked by Limits, not here.
func DecodePut(body []byte) (Put, error) {
	c := cursor{b: body}
	p := Put{Options: c.options(), Key: c.bytes16(), Value: c.bytes32()}
	return p, c.done()
}

// KeyRequest is the body of GET and DEL: options, then the key (u16 len +
// bytes). Key aliases the frame.
type KeyRequest struct {
	Options
	Key []byte
}

// AppendGet appends a whole GET request frame.
func AppendGet(dst []byte, id uint64, r KeyRequest) []byte {
	return appendKeyRequest(dst, OpGet, id, r)
}

// AppendDel appends a whole DEL request frame.
func AppendDel(dst []byte, id uint64, r KeyRequest) []byte {
	return appendKeyRequest(dst, OpDel, id, r)
}

func appendKeyRequest(dst []byte, op Opcode, id uint64, r KeyRequest) []byte {
	dst, start := beginFrame(dst, op, 0, 0, id)
	dst = appendOptions(dst, r.Options)
	dst = appendBytes16(dst, start, r.Key)
	return endFrame(dst, start)
}

// DecodeKeyRequest parses a GET or DEL body.
func DecodeKeyRequest(body []byte) (KeyRequest, error) {
	c := cursor{b: body}
	r := KeyRequest{Options: c.options(), Key: c.bytes16()}
	return r, c.done()
}

// AppendPing appends a PING request; the reply echoes payload. Keep it
// small: before HELLO a PING is bound by the pre-auth frame limit too.
func AppendPing(dst []byte, id uint64, payload []byte) []byte {
	dst, start := beginFrame(dst, OpPing, 0, 0, id)
	dst = append(dst, payload...)
	return endFrame(dst, start)
}

// AppendStats appends a STATS request (empty body). The reply body is
// UTF-8 text, one "name value" pair per line.
func AppendStats(dst []byte, id uint64) []byte {
	dst, start := beginFrame(dst, OpStats, 0, 0, id)
	return endFrame(dst, start)
}

// AppendBodyReply appends a reply whose body is raw bytes (PING, STATS).
func AppendBodyReply(dst []byte, op Opcode, id uint64, s Status, body []byte) []byte {
	dst, start := beginFrame(dst, op, FlagReply, s, id)
	dst = append(dst, body...)
	return endFrame(dst, start)
}

// WriteReply is the body of a PUT or DEL reply with any status: the
// version the daemon assigned to the write (zero if it assigned none, as
// when the request was refused before replication).
//
//	version  12 bytes
type WriteReply struct {
	Version Version
}

// AppendWriteReply appends a whole PUT or DEL reply frame.
func AppendWriteReply(dst []byte, op Opcode, id uint64, s Status, v Version) []byte {
	dst, start := beginFrame(dst, op, FlagReply, s, id)
	dst = appendVersion(dst, v)
	return endFrame(dst, start)
}

// DecodeWriteReply parses a PUT or DEL reply body. An empty body (a
// request refused before processing) decodes as the zero version.
func DecodeWriteReply(body []byte) (WriteReply, error) {
	if len(body) == 0 {
		return WriteReply{}, nil
	}
	c := cursor{b: body}
	r := WriteReply{Version: c.version()}
	return r, c.done()
}

// GetReply is the body of a GET reply: the version of the newest value
// (or of the tombstone for NOT_FOUND after a delete; zero if never
// written) and the value (u32 len + bytes; empty unless OK).
//
//	version  12 bytes
//	value    u32 len + bytes
type GetReply struct {
	Version Version
	Value   []byte // aliases the frame
}

// AppendGetReply appends a whole GET reply frame.
func AppendGetReply(dst []byte, id uint64, s Status, r GetReply) []byte {
	dst, start := beginFrame(dst, OpGet, FlagReply, s, id)
	dst = appendVersion(dst, r.Version)
	dst = appendBytes32(dst, r.Value)
	return endFrame(dst, start)
}

// DecodeGetReply parses a GET reply body; an empty body decodes as zero.
func DecodeGetReply(body []byte) (GetReply, error) {
	if len(body) == 0 {
		return GetReply{}, nil
	}
	c := cursor{b: body}
	r := GetReply{Version: c.version(), Value: c.bytes32()}
	return r, c.done()
}
