package protocol

// HeaderSize is the fixed size of every frame header, in bytes.
const HeaderSize = 16

// Flags are per-frame bits in header byte 5.
type Flags uint8

const (
	// FlagReply marks a reply; its request ID and opcode echo the request.
	FlagReply Flags = 1 << 0
	// FlagCompressed marks a body that is one S2 block; decompress it
	// (after checking the checksum) to get the body proper.
	FlagCompressed Flags = 1 << 1
	// FlagChecksum marks a body whose last 4 bytes are the CRC-32C
	// (Castagnoli), little-endian, of the body bytes before them as sent.
	FlagChecksum Flags = 1 << 2

	knownFlags = FlagReply | FlagCompressed | FlagChecksum
)

// Header is the fixed 16-byte frame header.
type Header struct {
	Length uint32 // body length in bytes, not counting the header
	Op     Opcode
	Flags  Flags
	Status Status // replies only; zero in requests
	ID     uint64 // chosen by the requester, echoed in the reply
}

// Frame is one decoded frame. Body aliases the buffer given to Decode: it
// is valid only until that buffer is reused, so copy what must outlive it.
type Frame struct {
	Header
	Body []byte
}

// IsReply reports whether the frame is a reply.
func (f *Frame) IsReply() bool { return f.Flags&FlagReply != 0 }

// DecodeHeader parses the header at the front of b. It returns ErrIncomplete
// if b is shorter than HeaderSize, ErrMalformed for unknown flag bits or a
// nonzero reserved byte, and ErrFrameTooLarge if HeaderSize+Length exceeds
// maxFrame (so the caller can refuse a frame before buffering its body).
func DecodeHeader(b []byte, maxFrame int) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrIncomplete
	}
	h := Header{
		Length: le.Uint32(b[0:4]),
		Op:     Opcode(b[4]),
		Flags:  Flags(b[5]),
		Status: Status(b[6]),
		ID:     le.Uint64(b[8:16]),
	}
	if b[7] != 0 || h.Flags&^knownFlags != 0 || h.Op == 0 {
		return h, ErrMalformed
	}
	if uint64(h.Length)+HeaderSize > uint64(maxFrame) {
		return h, ErrFrameTooLarge
	}
	return h, nil
}

// Replyable reports whether a reply to h can be sent: a reply echoes its
// request's op, and op 0 never makes a valid frame, so a header with op
// 0 gets no reply; the receiver closes the connection without one
// (doc.go, "What a server does with bad input").
func (h Header) Replyable() bool { return h.Op != 0 }

// Decode returns the first whole frame in b and the number of bytes it
// occupies. If b holds less than one frame it returns ErrIncomplete and
// n == 0: keep the bytes, read more, and call again; any split of the
// stream gives the same frames. Other errors are fatal to the connection.
// Decode checks framing only (see DecodeHeader), not the body: that is the
// job of the per-opcode decoders, after Open. It does not allocate.
func Decode(b []byte, maxFrame int) (f Frame, n int, err error) {
	h, err := DecodeHeader(b, maxFrame)
	if err != nil {
		return Frame{}, 0, err
	}
	end := HeaderSize + int(h.Length)
	if len(b) < end {
		return Frame{}, 0, ErrIncomplete
	}
	return Frame{Header: h, Body: b[HeaderSize:end:end]}, end, nil
}

// beginFrame appends a header with a zero length and returns where the
// frame starts; endFrame fills the length in once the body is appended.
func beginFrame(dst []byte, op Opcode, flags Flags, status Status, id uint64) ([]byte, int) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(op), byte(flags), byte(status), 0)
	return appendU64(dst, id), start
}

func endFrame(dst []byte, start int) []byte {
	le.PutUint32(dst[start:start+4], uint32(len(dst)-start-HeaderSize))
	return dst
}

// AppendHeader appends h as is (h.Length must be the body length), for callers
// that write the body themselves (for example from a vectored write).
func AppendHeader(dst []byte, h Header) []byte {
	dst = appendU32(dst, h.Length)
	dst = append(dst, byte(h.Op), byte(h.Flags), byte(h.Status), 0)
	return appendU64(dst, h.ID)
}

// AppendStatusReply appends a reply with status s and an empty body: the
// answer to a request that was refused before it could be processed.
func AppendStatusReply(dst []byte, op Opcode, id uint64, s Status) []byte {
	dst, start := beginFrame(dst, op, FlagReply, s, id)
	return endFrame(dst, start)
}
