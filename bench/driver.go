package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// Read buffer sizing: 64 KiB holds hundreds of small replies, so one read
// drains a whole pipelined batch; it grows only for a reply larger than
// itself, up to maxReadBuf.
const (
	readBufSize = 64 << 10
	maxReadBuf  = 2*MaxValueSize + 64<<10
)

// driver runs one connection: one writer goroutine (writeLoop or
// openLoop) and one reader goroutine (readLoop), both started and waited
// for by Run. Fields are grouped by the goroutine that owns them.
type driver struct {
	run   *runner
	nc    net.Conn
	codec codec
	rec   *recorder

	slots *slotTable
	wake  chan struct{} // cap 1: reader → writer "slots were freed"
	sent  atomic.Uint64 // requests handed to the socket
	recvd atomic.Uint64 // replies matched

	writerExited atomic.Bool
	readerDone   chan struct{} // closed when readLoop returns

	// Results of the two goroutines, read by Run after they return.
	writeErr, readErr error

	// Writer-owned.
	rng       *rand.Rand
	key       []byte
	taken     []uint32      // slots taken for the batch being built
	seq       uint64        // sequence number of the next request
	phase     time.Duration // open loop: offset of this connection's schedule
	unsent    uint64        // open loop: measured requests due but never sent
	maxLag    time.Duration // open loop: latest send past an intended time
	lateSends uint64        // open loop: measured requests sent > lateSend late

	// Reader-owned.
	freed     []uint32 // slots freed by the read batch being handled
	nextReply uint64   // ordered dialects: sequence number of the oldest request in flight
}

func newDriver(r *runner, nc net.Conn, c codec, rec *recorder, index int) *driver {
	w := r.cfg.window()
	d := &driver{
		run: r, nc: nc, codec: c, rec: rec,
		slots:      newSlotTable(w, c.ordered()),
		wake:       make(chan struct{}, 1),
		readerDone: make(chan struct{}),
		rng:        rand.New(rand.NewPCG(r.cfg.Seed, uint64(index))),
		key:        make([]byte, 0, keyLen),
		taken:      make([]uint32, 0, w),
		freed:      make([]uint32, 0, w),
	}
	if r.cfg.openLoop() {
		d.phase = time.Duration(int64(r.interval) * int64(index) / int64(r.cfg.Conns))
	}
	return d
}

// appendNext generates one request in slot, sent (or intended) at at.
func (d *driver) appendNext(buf []byte, slot uint32, at time.Duration, measured bool) []byte {
	op := opSet
	if d.rng.IntN(d.run.cfg.SetWeight+d.run.cfg.GetWeight) >= d.run.cfg.SetWeight {
		op = opGet
	}
	d.key = appendKey(d.key[:0], d.run.keys.next(d.rng))
	id := d.slots.fill(slot, d.seq, packSlot(at, op, measured))
	d.seq++
	return d.codec.appendRequest(buf, id, op, d.key, d.run.value)
}

// flush sends a batch of n requests with one write.
func (d *driver) flush(buf []byte, n int) error {
	d.sent.Add(uint64(n))
	if _, err := d.nc.Write(buf); err != nil {
		return fmt.Errorf("%w: %w", ErrConnLost, err)
	}
	return nil
}

// stopped reports whether the writer must stop issuing requests.
func (d *driver) stopped() bool {
	select {
	case <-d.run.stop:
		return true
	case <-d.readerDone:
		return true
	default:
		return false
	}
}

// waitWake blocks until the reader frees slots; false means stop.
func (d *driver) waitWake() bool {
	select {
	case <-d.wake:
		return true
	case <-d.run.stop:
		return false
	case <-d.readerDone:
		return false
	}
}

// writeLoop is the closed-loop writer: it waits for free slots, fills all
// of them, and sends the batch with one write.
func (d *driver) writeLoop() error {
	defer d.writerExit()
	buf := make([]byte, 0, readBufSize)
	window := d.run.cfg.window()
	for !d.stopped() {
		d.taken = d.slots.take(d.taken[:0], window)
		if len(d.taken) == 0 {
			if !d.waitWake() {
				return nil
			}
			continue
		}
		now := d.run.since()
		if now >= d.run.stopAt {
			d.slots.give(d.taken)
			return nil
		}
		n := len(d.taken)
		measured := now >= d.run.measureFrom
		if measured {
			if n = d.run.reserve(n); n == 0 {
				return nil
			}
		}
		buf = buf[:0]
		for _, slot := range d.taken[:n] {
			buf = d.appendNext(buf, slot, now, measured)
		}
		d.slots.give(d.taken[n:])
		if err := d.flush(buf, n); err != nil {
			return err
		}
	}
	return nil
}

// writerExit bounds the reader: it must finish the replies still in
// flight within the drain timeout, or now if there are none. Setting a
// deadline is safe while the reader is blocked in Read.
func (d *driver) writerExit() {
	d.writerExited.Store(true)
	deadline := time.Now().Add(d.run.cfg.DrainTimeout)
	if d.recvd.Load() == d.sent.Load() {
		deadline = time.Now()
	}
	_ = d.nc.SetReadDeadline(deadline)
}

// readLoop decodes replies, matches them to requests and records them,
// freeing slots for the writer once per read.
func (d *driver) readLoop() error {
	defer close(d.readerDone)
	buf := make([]byte, readBufSize)
	off, end := 0, 0
	for {
		n, err := d.nc.Read(buf[end:])
		end += n
		if n > 0 {
			used, perr := d.handle(buf[off:end], d.run.since())
			if perr != nil {
				return perr
			}
			off += used
			buf, off, end = compact(buf, off, end)
		}
		if d.writerExited.Load() && d.recvd.Load() == d.sent.Load() {
			return nil
		}
		if err != nil {
			if d.writerExited.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
				return nil // drain timeout: Run counts what is left
			}
			return fmt.Errorf("%w: %w", ErrConnLost, err)
		}
	}
}

// compact moves a partial reply to the front of buf, or grows buf when
// one reply does not fit in it.
func compact(buf []byte, off, end int) ([]byte, int, int) {
	switch {
	case off == end:
		return buf, 0, 0
	case off > 0:
		return buf, 0, copy(buf, buf[off:end])
	case end == len(buf) && len(buf) < maxReadBuf:
		grown := make([]byte, min(2*len(buf), maxReadBuf))
		return grown, 0, copy(grown, buf[:end])
	}
	return buf, off, end
}

// handle completes every whole reply in b, under one recorder lock, and
// returns the bytes used. It then hands the freed slots to the writer.
func (d *driver) handle(b []byte, now time.Duration) (int, error) {
	used, count := 0, 0
	var err error
	d.freed = d.freed[:0]
	d.rec.mu.Lock()
	for {
		n, rep, perr := d.codec.parseReply(b[used:])
		if perr != nil || n == 0 {
			err = perr
			break
		}
		used += n
		if err = d.complete(rep, now); err != nil {
			break
		}
		count++
	}
	d.rec.mu.Unlock()
	if count > 0 {
		d.recvd.Add(uint64(count))
		d.slots.give(d.freed)
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	return used, err
}

// complete matches one reply to its request and records it. Caller holds
// d.rec.mu.
func (d *driver) complete(rep reply, now time.Duration) error {
	var v uint64
	var slot uint32
	var ok bool
	if d.codec.ordered() {
		v, slot, ok = d.slots.claimSeq(d.nextReply)
		d.nextReply++
	} else {
		v, slot, ok = d.slots.claim(rep.id)
	}
	if !ok {
		return fmt.Errorf("%w: reply to request %d, which is not in flight", ErrBadReply, rep.id)
	}
	d.freed = append(d.freed, slot)
	op := opSet
	if v&slotGet != 0 {
		op = opGet
	}
	if !d.codec.ordered() && rep.op != op {
		return fmt.Errorf("%w: %s reply to %s request %d", ErrBadReply, rep.op, op, rep.id)
	}
	if v&slotMeasured != 0 {
		d.rec.record(rep, op, now-time.Duration(v>>slotTimeBits), now)
	}
	return nil
}
