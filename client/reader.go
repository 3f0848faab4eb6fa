package client

import (
	"fmt"

	"github.com/distridata/distridata/protocol"
)

// readBufferSize holds many small replies per read syscall; a larger
// frame grows the buffer to its size, and the buffer shrinks back after.
const readBufferSize = 64 << 10

// readLoop is the reader goroutine; the Conn owns it. It completes calls
// by request ID until the connection fails, then fails what is pending.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	c.fail(c.readFrames())
	c.failAll()
}

// readFrames decodes replies until a read error or a protocol violation,
// which it returns.
func (c *Conn) readFrames() error {
	maxFrame := c.info.Limits.MaxFrameSize
	buf := make([]byte, readBufferSize)
	r, w := 0, 0
	for {
		f, n, err := protocol.Decode(buf[r:w], maxFrame)
		if err == nil {
			if err := c.dispatch(&f); err != nil {
				return err
			}
			r += n
			continue
		}
		if err != protocol.ErrIncomplete {
			return fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		buf, r, w = makeRoom(buf, r, w, maxFrame)
		m, err := c.nc.Read(buf[w:])
		w += m
		if err != nil && m == 0 {
			return err
		}
	}
}

// makeRoom moves the partial frame in buf[r:w] to the front of a buffer
// big enough for the whole frame: the same one, a larger one for a big
// frame (its size is known from the header, checked against maxFrame),
// or a default-size one again after a big frame.
func makeRoom(buf []byte, r, w, maxFrame int) ([]byte, int, int) {
	need := readBufferSize
	if w-r >= protocol.HeaderSize {
		// Decode already accepted this header.
		h, _ := protocol.DecodeHeader(buf[r:w], maxFrame)
		need = max(need, protocol.HeaderSize+int(h.Length))
	}
	if need > len(buf) || (len(buf) > readBufferSize && need == readBufferSize) {
		nb := make([]byte, need)
		return nb, 0, copy(nb, buf[r:w])
	}
	if r > 0 {
		copy(buf, buf[r:w])
	}
	return buf, 0, w - r
}

// dispatch completes the call that f answers. A reply to a call that has
// already ended (cancelled, timed out) is dropped; anything that shows
// the server lost track of the stream is returned as an error.
func (c *Conn) dispatch(f *protocol.Frame) error {
	if !f.IsReply() {
		return fmt.Errorf("%w: request frame %v from the server", ErrProtocol, f.Op)
	}
	cl, issued := c.take(f.ID)
	if cl == nil {
		if issued {
			c.late.Add(1)
			return nil
		}
		return fmt.Errorf("%w: %v reply to request ID %d, which was never sent", ErrProtocol, f.Op, f.ID)
	}
	if f.Op != cl.op {
		err := fmt.Errorf("%w: %v reply to a %v request", ErrProtocol, f.Op, cl.op)
		c.finish(cl, result{err: c.answeredBadly(cl, err)})
		return err
	}
	body, err := f.Open(c.scratch, c.info.Limits.MaxFrameSize)
	if err != nil {
		err = fmt.Errorf("%w: %v reply: %w", ErrProtocol, f.Op, err)
		c.finish(cl, result{err: c.answeredBadly(cl, err)})
		return err
	}
	if f.Flags&protocol.FlagCompressed != 0 && cap(body) > cap(c.scratch) && cap(body) <= maxSpareBuffer {
		c.scratch = body[:0]
	}
	res, err := decodeReply(cl, f.Status, body, cl.done != nil)
	if err != nil {
		err = fmt.Errorf("%w: %v reply: %w", ErrProtocol, f.Op, err)
		c.finish(cl, result{err: c.answeredBadly(cl, err)})
		return err
	}
	c.finish(cl, res)
	return nil
}

// answeredBadly classifies a call whose reply could not be read: the
// server did process it, so a write's outcome is unknown.
func (c *Conn) answeredBadly(cl *call, err error) error {
	return &callError{op: cl.op, err: err, unknown: isWrite(cl.op)}
}
