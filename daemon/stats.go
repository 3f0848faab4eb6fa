package daemon

import (
	"bytes"
	"strconv"
	"sync/atomic"

	"github.com/distridata/distridata/protocol"
)

// metrics are the front end's counters. All are atomics: they are bumped
// on the event loops and by request goroutines, and read by STATS.
type metrics struct {
	connsOpen     atomic.Int64  // gauge: connections being served
	connsAccepted atomic.Uint64 // connections accepted and served
	connsRejected atomic.Uint64 // connections refused: MaxConns or draining
	requests      [opSlots]atomic.Uint64
	inFlight      atomic.Int64 // gauge: requests handed to the store
	memInFlight   atomic.Int64 // gauge: bytes charged to MemoryBudget
	busy          atomic.Uint64
	memOutput     atomic.Int64  // gauge: reply bytes in gnet's outbound buffers, charged to MemoryBudget
	pauses        atomic.Uint64 // times a connection's window filled
	outputPauses  atomic.Uint64 // ... of which its output window
	outputStalls  atomic.Uint64 // closes for output that made no progress for OutputTimeout
	inboundCap    atomic.Uint64 // closes at MaxInboundBuffered
	outboundCap   atomic.Uint64 // closes at MaxOutboundBuffered
	frameTimeouts atomic.Uint64 // closes for a stale partial frame or no HELLO
	idleTimeouts  atomic.Uint64
	badRequests   atomic.Uint64 // closes for a malformed or oversize frame
	authFailures  atomic.Uint64
	replyStatus   [statusSlots]atomic.Uint64
	writes        atomic.Uint64 // reply writes handed to gnet (one per flush with data)
	wakes         atomic.Uint64 // loop wake-ups requested by completions
	bytesIn       atomic.Uint64 // frame bytes decoded
	bytesOut      atomic.Uint64 // reply bytes handed to gnet
	ops           opMetrics     // data requests by op: statuses and latency (metrics.go)
}

// opSlots covers the client opcodes (0x01..0x08) plus one slot for the rest.
const (
	opSlots     = int(protocol.OpMGet) + 2
	statusSlots = int(protocol.StatusSuperseded) + 2
)

func opSlot(op protocol.Opcode) int {
	if int(op) < opSlots-1 {
		return int(op)
	}
	return opSlots - 1
}

func (m *metrics) countRequest(op protocol.Opcode) { m.requests[opSlot(op)].Add(1) }

func (m *metrics) countStatus(s protocol.Status) {
	m.replyStatus[min(int(s), statusSlots-1)].Add(1)
}

// appendText appends the counters as "name value" lines.
func (m *metrics) appendText(b *bytes.Buffer) {
	line(b, "conns", m.connsOpen.Load())
	line(b, "conns_accepted", m.connsAccepted.Load())
	line(b, "conns_rejected", m.connsRejected.Load())
	for op := protocol.OpHello; op <= protocol.OpMGet; op++ {
		line(b, "requests_"+lower(op.String()), m.requests[opSlot(op)].Load())
	}
	line(b, "requests_other", m.requests[opSlots-1].Load())
	for s := protocol.StatusOK; s <= protocol.StatusSuperseded; s++ {
		if v := m.replyStatus[s].Load(); v > 0 {
			line(b, "replies_"+lower(s.String()), v)
		}
	}
	line(b, "reply_writes", m.writes.Load())
	line(b, "wakes", m.wakes.Load())
	line(b, "bytes_in", m.bytesIn.Load())
	line(b, "bytes_out", m.bytesOut.Load())
	line(b, "in_flight", m.inFlight.Load())
	line(b, "in_flight_bytes", m.memInFlight.Load())
	line(b, "busy_sheds", m.busy.Load())
	line(b, "out_buffered_bytes", m.memOutput.Load())
	line(b, "backpressure_pauses", m.pauses.Load())
	line(b, "output_pauses", m.outputPauses.Load())
	line(b, "cap_closes_inbound", m.inboundCap.Load())
	line(b, "cap_closes_outbound", m.outboundCap.Load())
	line(b, "output_stall_closes", m.outputStalls.Load())
	line(b, "frame_timeout_closes", m.frameTimeouts.Load())
	line(b, "idle_timeout_closes", m.idleTimeouts.Load())
	line(b, "bad_request_closes", m.badRequests.Load())
	line(b, "auth_failures", m.authFailures.Load())
}

func line[T int64 | uint64](b *bytes.Buffer, name string, v T) {
	b.WriteString(name)
	b.WriteByte(' ')
	var tmp [20]byte
	b.Write(strconv.AppendInt(tmp[:0], int64(v), 10)) // counters stay below 2^63
	b.WriteByte('\n')
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
