package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/internal/systest"
	"github.com/distridata/distridata/protocol"
)

// refuseWithin is how fast the daemon must answer hostile input with an
// error status or a close.
const refuseWithin = time.Second

// answer is how the daemon reacted to input.
type answer struct {
	Status protocol.Status // the reply's status, if one came
	Closed bool            // the connection was closed (before or after a reply)
	Silent bool            // neither within refuseWithin
}

// react reads what the daemon does within refuseWithin: a reply (its
// status), a close, or silence.
func react(nc net.Conn) answer {
	nc.SetReadDeadline(time.Now().Add(refuseWithin))
	f, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrameSize)
	switch {
	case err == nil:
		return answer{Status: f.Status}
	case isTimeout(err):
		return answer{Silent: true}
	default:
		return answer{Closed: true}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// refused reports whether a reaction counts as refusing bad input.
func (a answer) refused() bool { return a.Closed || (!a.Silent && a.Status != protocol.StatusOK) }

func (a answer) String() string {
	switch {
	case a.Silent:
		return "silent"
	case a.Closed:
		return "closed"
	}
	return a.Status.String()
}

// canary proves the daemon still serves: a PUT then a GET of a fresh key
// on a fresh connection. It returns the round-trip time of both.
func canary(t *testing.T, c *systest.Cluster, n int) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	conn, err := client.Dial(ctx, c.Addr(), client.DefaultOptions())
	if err != nil {
		t.Fatalf("canary %d: cannot dial: %v", n, err)
	}
	defer conn.Close()
	key := []byte(fmt.Sprintf("canary/%d/%d", n, time.Now().UnixNano()))
	if _, err := conn.Put(ctx, key, []byte("alive")); err != nil {
		t.Fatalf("canary %d: PUT: %v", n, err)
	}
	if v, _, err := conn.Get(ctx, key); err != nil || string(v) != "alive" {
		t.Fatalf("canary %d: GET: %q %v", n, v, err)
	}
	return time.Since(start)
}

// send dials (with HELLO if hello), writes b and returns the reaction.
func send(t *testing.T, addr string, hello bool, b []byte) answer {
	t.Helper()
	nc, err := systest.DialRaw(addr, hello)
	if err != nil {
		t.Fatalf("cannot dial: %v", err)
	}
	defer nc.Close()
	if _, err := nc.Write(b); err != nil {
		return answer{Closed: true}
	}
	return react(nc)
}

// hostileCase is one malformed input and what it must provoke.
type hostileCase struct {
	name  string
	hello bool   // send HELLO first
	input []byte // the bytes after HELLO
	want  protocol.Status
	// keep: the connection must stay usable afterwards (a PING answers).
	keep bool
}

func h1Cases() []hostileCase {
	lim := protocol.DefaultLimits()
	key := func(n int) []byte { return make([]byte, n) }
	frame := func(op protocol.Opcode, body []byte) []byte {
		return append(protocol.AppendHeader(nil, protocol.Header{Length: uint32(len(body)), Op: op, ID: 7}), body...)
	}
	return []hostileCase{
		{name: "unknown opcode 0x7f", hello: true, input: frame(0x7f, []byte("??")), want: protocol.StatusBadRequest, keep: true},
		{name: "replica op from a client", hello: true, input: frame(protocol.OpReplicaPut, []byte("x")), want: protocol.StatusBadRequest},
		{name: "unknown opcode before HELLO", input: frame(0x7f, nil), want: protocol.StatusUnauthorized},
		{name: "PUT before HELLO", input: protocol.AppendPut(nil, 1, protocol.Put{Key: []byte("k"), Value: []byte("v")}), want: protocol.StatusUnauthorized},
		{name: "zero-length key PUT", hello: true, input: protocol.AppendPut(nil, 2, protocol.Put{Value: []byte("v")}), want: protocol.StatusBadRequest, keep: true},
		{name: "zero-length key GET", hello: true, input: protocol.AppendGet(nil, 2, protocol.KeyRequest{}), want: protocol.StatusBadRequest, keep: true},
		{name: "oversize key PUT", hello: true, input: protocol.AppendPut(nil, 2, protocol.Put{Key: key(lim.MaxKeySize + 1), Value: []byte("v")}), want: protocol.StatusTooLarge, keep: true},
		{name: "oversize key DEL", hello: true, input: protocol.AppendDel(nil, 2, protocol.KeyRequest{Key: key(lim.MaxKeySize + 1)}), want: protocol.StatusTooLarge, keep: true},
		{name: "value over the limit", hello: true, input: protocol.AppendPut(nil, 2, protocol.Put{Key: []byte("k"), Value: key(lim.MaxValueSize + 1)}), want: protocol.StatusTooLarge, keep: true},
		{name: "reply flag on a request", hello: true, input: protocol.AppendStatusReply(nil, protocol.OpPut, 3, protocol.StatusOK), want: protocol.StatusBadRequest},
		{name: "PUT with trailing bytes", hello: true, input: frame(protocol.OpPut, append(protocol.AppendPut(nil, 0, protocol.Put{Key: []byte("k"), Value: []byte("v")})[protocol.HeaderSize:], 0)), want: protocol.StatusBadRequest},
		{name: "bad HELLO magic", input: frame(protocol.OpHello, []byte("XXXX\x01\x00\x00\x00\x00")), want: protocol.StatusBadRequest},
	}
}

// H1: malformed input of every kind (random bytes, unknown opcodes,
// zero-length and oversize keys, values over the limit) is answered with
// an error status or a close within a second, nothing is applied, and the
// daemon keeps serving a canary PUT/GET.
func TestH1HostileInput(t *testing.T) {
	c := systest.Start(t, systest.Options{})
	tried := 0
	for _, hc := range h1Cases() {
		tried++
		t0 := time.Now()
		nc, err := systest.DialRaw(c.Addr(), hc.hello)
		if err != nil {
			t.Fatalf("%s: cannot dial: %v", hc.name, err)
		}
		nc.Write(hc.input)
		a := react(nc)
		if a.Silent || (!a.Closed && a.Status != hc.want) {
			t.Errorf("%s: daemon answered %v, want %v or a close within %v", hc.name, a, hc.want, refuseWithin)
		}
		if hc.keep && !a.Closed {
			if p := send1(nc, protocol.AppendPing(nil, 99, []byte("p"))); p.Status != protocol.StatusOK {
				t.Errorf("%s: connection unusable after a refused request: PING got %v", hc.name, p)
			}
		}
		nc.Close()
		t.Logf("%s: %v after %v", hc.name, a, time.Since(t0))
	}
	random := h1Random(t, c, seedFor(t))
	canary(t, c, 1)
	summary(t, "hostile_inputs=%d random_blobs=%d (%d wait for a frame timeout by design)", tried+random.tried, random.tried, random.waiting)
}

// send1 writes b on an established connection and reads the reaction.
func send1(nc net.Conn, b []byte) answer {
	if _, err := nc.Write(b); err != nil {
		return answer{Closed: true}
	}
	return react(nc)
}

type randomFigures struct{ tried, waiting int }

// h1Random sends seeded random blobs, before and after HELLO. A blob
// whose first 16 bytes happen to be a valid header of a frame it does not
// complete is legitimately waited for (until the frame timeout); every
// other blob must be refused within a second.
func h1Random(t *testing.T, c *systest.Cluster, seed uint64) randomFigures {
	t.Helper()
	rng := newRand(seed)
	var f randomFigures
	for i := range 40 {
		hello := i%2 == 1
		b := make([]byte, protocol.HeaderSize+rng.IntN(600))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		f.tried++
		limit := protocol.DefaultMaxPreAuthFrameSize
		if hello {
			limit = protocol.DefaultMaxFrameSize
		}
		if h, err := protocol.DecodeHeader(b, limit); err == nil && protocol.HeaderSize+int(h.Length) > len(b) {
			f.waiting++
			continue
		}
		if a := send(t, c.Addr(), hello, b); !a.refused() {
			t.Errorf("random blob %d (hello=%v, %d bytes, header % x): daemon answered %v", i, hello, len(b), b[:16], a)
		}
	}
	return f
}
