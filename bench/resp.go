package bench

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/distridata/distridata/protocol"
)

// maxRESPError bounds the error word kept as a counter name, so a
// misbehaving server cannot grow the error map with long unique strings.
const maxRESPError = 24

// maxRESPLine bounds a reply line before its CRLF; longer is garbage.
const maxRESPLine = 512

// respCodec speaks RESP2 SET and GET. Replies carry no IDs and come in
// request order, so the reader matches them by position.
type respCodec struct {
	token    []byte
	setHead  []byte // "*3\r\n$3\r\nSET\r\n$16\r\n"
	setMid   []byte // "\r\n$<value size>\r\n"
	getHead  []byte // "*2\r\n$3\r\nGET\r\n$16\r\n"
	maxValue int
}

func newRESPCodec(cfg *Config) *respCodec {
	klen := strconv.Itoa(keyLen)
	return &respCodec{
		token:    cfg.Token,
		setHead:  []byte("*3\r\n$3\r\nSET\r\n$" + klen + "\r\n"),
		setMid:   []byte("\r\n$" + strconv.Itoa(cfg.ValueSize) + "\r\n"),
		getHead:  []byte("*2\r\n$3\r\nGET\r\n$" + klen + "\r\n"),
		maxValue: MaxValueSize,
	}
}

func (c *respCodec) ordered() bool { return true }

// handshake sends AUTH when a token is set; without one it sends nothing,
// because twemproxy does not answer every command a server would.
func (c *respCodec) handshake(nc net.Conn, deadline time.Time) error {
	if len(c.token) == 0 {
		return nil
	}
	if err := nc.SetDeadline(deadline); err != nil {
		return err
	}
	req := fmt.Appendf(nil, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(c.token), c.token)
	if _, err := nc.Write(req); err != nil {
		return fmt.Errorf("%w: cannot send AUTH: %w", ErrHandshake, err)
	}
	buf := make([]byte, 0, 256)
	tmp := make([]byte, 256)
	for {
		n, err := nc.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if m, r, perr := c.parseReply(buf); perr != nil || m > 0 {
			if perr != nil || !r.ok() {
				return fmt.Errorf("%w: AUTH answered %q", ErrHandshake, buf)
			}
			return nc.SetDeadline(time.Time{})
		}
		if err != nil {
			return fmt.Errorf("%w: cannot read AUTH reply: %w", ErrHandshake, err)
		}
		if len(buf) > maxRESPLine {
			return fmt.Errorf("%w: AUTH reply too long", ErrHandshake)
		}
	}
}

func (c *respCodec) appendRequest(dst []byte, _ uint64, op opKind, key, value []byte) []byte {
	if op == opGet {
		dst = append(dst, c.getHead...)
		dst = append(dst, key...)
		return append(dst, '\r', '\n')
	}
	dst = append(dst, c.setHead...)
	dst = append(dst, key...)
	dst = append(dst, c.setMid...)
	dst = append(dst, value...)
	return append(dst, '\r', '\n')
}

// parseReply reads one RESP2 reply: +simple, -error, :integer or $bulk
// ($-1 is a miss). Arrays never answer SET or GET, so they are bad replies.
func (c *respCodec) parseReply(b []byte) (int, reply, error) {
	end := bytes.Index(b, []byte("\r\n"))
	if end < 0 {
		if len(b) > maxRESPLine {
			return 0, reply{}, fmt.Errorf("%w: RESP line over %d bytes", ErrBadReply, maxRESPLine)
		}
		return 0, reply{}, nil
	}
	line := b[1:end]
	switch b[0] {
	case '+', ':':
		return end + 2, reply{status: protocol.StatusOK}, nil
	case '-':
		return end + 2, reply{errName: respErrorName(line)}, nil
	case '$':
		return c.parseBulk(b, line, end)
	}
	return 0, reply{}, fmt.Errorf("%w: unexpected RESP reply %q", ErrBadReply, b[:min(len(b), 32)])
}

func (c *respCodec) parseBulk(b, line []byte, end int) (int, reply, error) {
	n, err := strconv.Atoi(string(line))
	switch {
	case err != nil || n < -1 || n > c.maxValue:
		return 0, reply{}, fmt.Errorf("%w: bad RESP bulk length %q", ErrBadReply, line)
	case n == -1:
		return end + 2, reply{status: protocol.StatusNotFound}, nil
	case len(b) < end+2+n+2:
		return 0, reply{}, nil
	}
	return end + 2 + n + 2, reply{status: protocol.StatusOK}, nil
}

// respErrorName is the first word of a RESP error ("ERR", "MOVED"),
// prefixed so it cannot collide with a DistriData status name.
func respErrorName(line []byte) string {
	w, _, _ := bytes.Cut(line, []byte(" "))
	if len(w) > maxRESPError {
		w = w[:maxRESPError]
	}
	if len(w) == 0 {
		return "RESP_ERROR"
	}
	return "RESP_" + string(w)
}
