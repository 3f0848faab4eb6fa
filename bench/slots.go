package bench

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Slot state layout: one atomic word per in-flight request. The writer
// stores it before the request is sent; the reader swaps it to zero when
// the reply arrives. The atomic store/swap pair is what orders the two
// goroutines (the socket in between is invisible to the memory model and
// the race detector).
const (
	slotValid    = 1 << 0
	slotGet      = 1 << 1 // op is GET (else SET)
	slotMeasured = 1 << 2 // sent after warmup: record its reply
	slotTimeBits = 3      // send time (ns since start) starts at this bit
)

func packSlot(at time.Duration, op opKind, measured bool) uint64 {
	v := uint64(at)<<slotTimeBits | slotValid
	if op == opGet {
		v |= slotGet
	}
	if measured {
		v |= slotMeasured
	}
	return v
}

// slotTable tracks one connection's requests in flight: at most window
// of them, each in a slot that stays taken until its reply arrives.
// Replies may come in any order, so slots are recycled through a free
// list, and the request ID names its slot in its low bits (the rest is a
// sequence number, so an ID is never reused within a run).
type slotTable struct {
	state []atomic.Uint64 // packSlot value; 0 = free
	ids   []atomic.Uint64 // ID of the request in each slot
	bits  uint            // low ID bits that hold the slot
	// order maps a sequence number to its slot, for dialects whose replies
	// carry no ID but come in request order (RESP): then the requests in
	// flight have consecutive sequence numbers, so seq&orderMask is unique.
	order     []atomic.Uint32
	orderMask uint64

	mu   sync.Mutex // guards free; held once per batch, never nested
	free []uint32
}

func newSlotTable(window int, ordered bool) *slotTable {
	t := &slotTable{
		state: make([]atomic.Uint64, window),
		ids:   make([]atomic.Uint64, window),
		bits:  uint(bits.Len(uint(window - 1))),
		free:  make([]uint32, window),
	}
	for i := range t.free {
		t.free[i] = uint32(window - 1 - i) // pop order 0, 1, 2, ...
	}
	if ordered {
		t.order = make([]atomic.Uint32, 1<<t.bits)
		t.orderMask = 1<<t.bits - 1
	}
	return t
}

// take moves up to n free slots onto dst. Writer only.
func (t *slotTable) take(dst []uint32, n int) []uint32 {
	t.mu.Lock()
	k := min(n, len(t.free))
	dst = append(dst, t.free[len(t.free)-k:]...)
	t.free = t.free[:len(t.free)-k]
	t.mu.Unlock()
	return dst
}

// give returns slots to the free list.
func (t *slotTable) give(s []uint32) {
	if len(s) == 0 {
		return
	}
	t.mu.Lock()
	t.free = append(t.free, s...)
	t.mu.Unlock()
}

// fill records request seq in slot and returns its ID. Writer only.
func (t *slotTable) fill(slot uint32, seq uint64, state uint64) uint64 {
	id := seq<<t.bits | uint64(slot)
	t.ids[slot].Store(id)
	if t.order != nil {
		t.order[seq&t.orderMask].Store(slot)
	}
	t.state[slot].Store(state)
	return id
}

// claim empties the slot of the request with this ID and returns its
// state; ok is false for an ID that is not in flight. Reader only.
func (t *slotTable) claim(id uint64) (state uint64, slot uint32, ok bool) {
	slot = uint32(id & (1<<t.bits - 1))
	if int(slot) >= len(t.state) || t.ids[slot].Load() != id {
		return 0, 0, false
	}
	state = t.state[slot].Swap(0)
	return state, slot, state&slotValid != 0
}

// claimSeq is claim for ordered dialects: the oldest request in flight
// has sequence number seq. Reader only.
func (t *slotTable) claimSeq(seq uint64) (state uint64, slot uint32, ok bool) {
	slot = t.order[seq&t.orderMask].Load()
	state = t.state[slot].Swap(0)
	return state, slot, state&slotValid != 0
}

// leftover counts measured requests still in flight. Call it only after
// both goroutines of the connection have returned.
func (t *slotTable) leftover() uint64 {
	var n uint64
	for i := range t.state {
		if v := t.state[i].Load(); v&slotValid != 0 && v&slotMeasured != 0 {
			n++
		}
	}
	return n
}
