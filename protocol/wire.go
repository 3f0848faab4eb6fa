package protocol

import "encoding/binary"

// Little-endian primitives. Every multi-byte integer on the wire is
// little-endian: every platform we run on is, so encoding costs nothing.

var le = binary.LittleEndian

func appendU8(b []byte, v uint8) []byte   { return append(b, v) }
func appendU16(b []byte, v uint16) []byte { return le.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return le.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return le.AppendUint64(b, v) }

// appendBytes16 appends a u16 length prefix and b to the frame that starts
// at dst[start]. Callers check len(b) against the limits first. An oversize
// b is a caller bug that must not reach a peer as a valid frame: a wrapped
// prefix would let the bytes of an over-long key be read as other fields
// (a key of 65536+n bytes could carry a forged value), and truncating
// would silently write another key. So the frame is poisoned instead: its
// reserved header byte is set, and every receiver refuses it in
// DecodeHeader as malformed.
func appendBytes16(dst []byte, start int, b []byte) []byte {
	if len(b) > 0xFFFF {
		dst[start+7] = poisonByte
	}
	dst = appendU16(dst, uint16(len(b)))
	return append(dst, b...)
}

// poisonByte marks a frame its encoder knows to be invalid (see
// appendBytes16); any nonzero reserved byte would do.
const poisonByte = 0xFF

func appendBytes32(dst, b []byte) []byte {
	dst = appendU32(dst, uint32(len(b)))
	return append(dst, b...)
}

// cursor reads a body front to back. The first short read sets err and
// every later read returns zero values, so decoders check err once at the
// end instead of after every field. It lives on the stack: no allocation.
// Loops over a count read from the wire must also stop at the first error
// (i < count && c.err == nil): every item that succeeds consumes at least
// one byte, so work stays bounded by the body length, whereas a 20-byte
// body claiming 65535 items would otherwise cost 65535 empty iterations.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) take(n int) []byte {
	if c.err != nil {
		return nil
	}
	if n < 0 || n > len(c.b) {
		c.err = ErrMalformed
		return nil
	}
	v := c.b[:n:n]
	c.b = c.b[n:]
	return v
}

func (c *cursor) u8() uint8 {
	if v := c.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (c *cursor) u16() uint16 {
	if v := c.take(2); v != nil {
		return le.Uint16(v)
	}
	return 0
}

func (c *cursor) u32() uint32 {
	if v := c.take(4); v != nil {
		return le.Uint32(v)
	}
	return 0
}

func (c *cursor) u64() uint64 {
	if v := c.take(8); v != nil {
		return le.Uint64(v)
	}
	return 0
}

func (c *cursor) bytes16() []byte { return c.take(int(c.u16())) }
func (c *cursor) bytes32() []byte { return c.take(int(c.u32())) }

func (c *cursor) version() Version {
	ts := c.u64()
	return Version{TS: ts, Origin: c.u32()}
}

// done reports the first error, or ErrMalformed if bytes are left over:
// a body must be consumed exactly, so two implementations cannot disagree
// about trailing data.
func (c *cursor) done() error {
	if c.err != nil {
		return c.err
	}
	if len(c.b) != 0 {
		return ErrMalformed
	}
	return nil
}
