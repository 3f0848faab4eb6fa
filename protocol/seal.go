package protocol

import (
	"hash/crc32"
	"slices"

	"github.com/klauspost/compress/s2"
)

// castagnoli is CRC-32C, hardware accelerated on amd64 and arm64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SealOptions choose when a frame body is compressed and checksummed.
// Zero disables the corresponding transform.
type SealOptions struct {
	// CompressAbove: bodies of at least this many bytes are S2-compressed,
	// when that makes them smaller. Small bodies are not worth the CPU.
	CompressAbove int
	// ChecksumAbove: bodies of at least this many bytes carry a CRC-32C
	// even when not compressed. Compressed bodies always carry one, since
	// S2 blocks have no checksum of their own.
	ChecksumAbove int
}

// DefaultSealOptions compress bodies of 4 KiB and more, and checksum
// bodies of 64 KiB and more (where a flipped bit is likeliest to hide).
func DefaultSealOptions() SealOptions {
	return SealOptions{CompressAbove: 4 << 10, ChecksumAbove: 64 << 10}
}

// Seal appends to dst the frame, transformed by o: possibly compressed and
// checksummed. frame must be one whole plain frame (no flags but
// FlagReply) as produced by an Append function; dst must not overlap it.
func Seal(dst, frame []byte, o SealOptions) []byte {
	body := frame[HeaderSize:]
	flags := Flags(frame[5])
	start := len(dst)
	dst = append(dst, frame[:HeaderSize]...)
	compressed := false
	if o.CompressAbove > 0 && len(body) >= o.CompressAbove {
		// Compress straight into dst's spare capacity: s2 writes in place
		// when given MaxEncodedLen bytes, so no temporary buffer is needed.
		need := s2.MaxEncodedLen(len(body))
		if need > 0 {
			dst = slices.Grow(dst, need)
			enc := s2.Encode(dst[len(dst):len(dst)+need], body)
			if len(enc) < len(body) {
				dst = dst[:len(dst)+len(enc)]
				compressed = true
				flags |= FlagCompressed
			}
		}
	}
	if !compressed {
		dst = append(dst, body...)
	}
	if compressed || (o.ChecksumAbove > 0 && len(body) >= o.ChecksumAbove) {
		flags |= FlagChecksum
		sum := crc32.Checksum(dst[start+HeaderSize:], castagnoli)
		dst = appendU32(dst, sum)
	}
	dst[start+5] = byte(flags)
	return endFrame(dst, start)
}

// Open returns the plain body of f: it verifies and strips the checksum
// and decompresses into scratch (grown if too small) when the frame is
// compressed. The decompressed size is checked against maxBody before any
// allocation. For plain frames Open returns f.Body and allocates nothing.
func (f *Frame) Open(scratch []byte, maxBody int) ([]byte, error) {
	body := f.Body
	if f.Flags&FlagChecksum != 0 {
		if len(body) < 4 {
			return nil, ErrMalformed
		}
		n := len(body) - 4
		if crc32.Checksum(body[:n], castagnoli) != le.Uint32(body[n:]) {
			return nil, ErrChecksum
		}
		body = body[:n]
	}
	if f.Flags&FlagCompressed == 0 {
		return body, nil
	}
	n, err := s2.DecodedLen(body)
	if err != nil {
		return nil, ErrMalformed
	}
	if n > maxBody {
		return nil, ErrFrameTooLarge
	}
	if cap(scratch) < n {
		scratch = make([]byte, n)
	}
	out, err := s2.Decode(scratch[:n], body)
	if err != nil {
		return nil, ErrMalformed
	}
	return out, nil
}
