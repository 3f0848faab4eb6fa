package protocol

import "io"

// ReadFrame reads exactly one frame from a blocking reader, for handshakes,
// tools and tests that want one frame at a time (servers decode from their
// own buffers with Decode). The length is checked against maxFrame from the
// header alone, before the body is allocated or read; the body is freshly
// allocated and owned by the caller.
func ReadFrame(r io.Reader, maxFrame int) (Frame, error) {
	var hdr [HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Frame{}, err
	}
	h, err := DecodeHeader(hdr[:], maxFrame)
	if err != nil {
		return Frame{}, err
	}
	body := make([]byte, h.Length)
	if _, err := io.ReadFull(r, body); err != nil {
		return Frame{}, err
	}
	return Frame{Header: h, Body: body}, nil
}
