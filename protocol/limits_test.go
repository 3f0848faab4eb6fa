package protocol

import (
	"errors"
	"fmt"
	"testing"
)

// lengthHeader is a bare header announcing a body of n bytes: the only
// bytes a server has when it must refuse an oversize frame.
func lengthHeader(op Opcode, n uint32) []byte {
	return AppendHeader(nil, Header{Length: n, Op: op, ID: 99})
}

// TestFrameLimitOneByteOver checks each frame limit at and one byte over,
// with only the 16 header bytes present: the refusal must not depend on
// the body having arrived.
func TestFrameLimitOneByteOver(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
	}{
		{"MaxFrameSize", DefaultMaxFrameSize},
		{"MaxPreAuthFrameSize", DefaultMaxPreAuthFrameSize},
		{"minimum pre-auth limit", HeaderSize + 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			atLimit := lengthHeader(OpPut, uint32(tc.max-HeaderSize))
			if _, err := DecodeHeader(atLimit, tc.max); err != nil {
				t.Fatalf("frame of exactly %d bytes: %v", tc.max, err)
			}
			if _, _, err := Decode(atLimit, tc.max); !errors.Is(err, ErrIncomplete) {
				t.Fatalf("Decode at the limit without body: %v, want ErrIncomplete", err)
			}
			over := lengthHeader(OpPut, uint32(tc.max-HeaderSize+1))
			h, err := DecodeHeader(over, tc.max)
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("one byte over: %v, want ErrFrameTooLarge", err)
			}
			// The header is still returned, so the TOO_LARGE reply can
			// echo the opcode and ID.
			if h.Op != OpPut || h.ID != 99 {
				t.Fatalf("header not returned with ErrFrameTooLarge: %+v", h)
			}
			if _, n, err := Decode(over, tc.max); !errors.Is(err, ErrFrameTooLarge) || n != 0 {
				t.Fatalf("Decode one byte over: n %d, %v", n, err)
			}
			if StatusOf(err) != StatusTooLarge {
				t.Fatalf("StatusOf(%v) = %s", err, StatusOf(err))
			}
		})
	}
}

// TestFrameLimitMaxLength: a 4 GiB length prefix must not overflow the
// comparison on any platform.
func TestFrameLimitMaxLength(t *testing.T) {
	if _, err := DecodeHeader(lengthHeader(OpPut, ^uint32(0)), 1<<30); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("length 0xFFFFFFFF: %v", err)
	}
}

func TestFieldLimitsOneByteOver(t *testing.T) {
	small := Limits{MaxFrameSize: 4096, MaxPreAuthFrameSize: 1024, MaxKeySize: 10, MaxValueSize: 100, MaxBatchKeys: 3}
	for _, l := range []Limits{small, DefaultLimits()} {
		name := fmt.Sprintf("key%d value%d batch%d", l.MaxKeySize, l.MaxValueSize, l.MaxBatchKeys)
		t.Run(name, func(t *testing.T) {
			tests := []struct {
				name   string
				err    error
				status Status
			}{
				{"key at max", l.CheckKey(make([]byte, l.MaxKeySize)), StatusOK},
				{"key one over", l.CheckKey(make([]byte, l.MaxKeySize+1)), StatusTooLarge},
				{"key empty", l.CheckKey(nil), StatusBadRequest},
				{"key one byte", l.CheckKey([]byte{0}), StatusOK},
				{"value at max", l.CheckValue(make([]byte, l.MaxValueSize)), StatusOK},
				{"value one over", l.CheckValue(make([]byte, l.MaxValueSize+1)), StatusTooLarge},
				{"value empty", l.CheckValue(nil), StatusOK},
				{"batch at max", l.CheckBatch(l.MaxBatchKeys), StatusOK},
				{"batch one over", l.CheckBatch(l.MaxBatchKeys + 1), StatusTooLarge},
				{"batch of one", l.CheckBatch(1), StatusOK},
				{"batch empty", l.CheckBatch(0), StatusBadRequest},
			}
			for _, tc := range tests {
				if got := StatusOf(tc.err); got != tc.status {
					t.Errorf("%s: err %v → %s, want %s", tc.name, tc.err, got, tc.status)
				}
			}
		})
	}
	l := DefaultLimits()
	for _, tc := range []struct {
		err, want error
	}{
		{l.CheckKey(make([]byte, l.MaxKeySize+1)), ErrKeyTooLarge},
		{l.CheckKey(nil), ErrEmptyKey},
		{l.CheckValue(make([]byte, l.MaxValueSize+1)), ErrValueTooLarge},
		{l.CheckBatch(l.MaxBatchKeys + 1), ErrBatchTooLarge},
		{l.CheckBatch(0), ErrMalformed},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("got %v, want %v", tc.err, tc.want)
		}
	}
}

// TestDefaultsFit checks the promises the defaults make in their comments:
// the largest HELLO passes the pre-auth limit, and the largest PUT (max
// key, max value) passes the frame limit.
func TestDefaultsFit(t *testing.T) {
	l := DefaultLimits()
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	hello := AppendHello(nil, 1, Hello{Version: 1, Token: make([]byte, MaxTokenSize)})
	if _, _, err := Decode(hello, l.MaxPreAuthFrameSize); err != nil {
		t.Fatalf("a HELLO with a %d-byte token (%d B) does not pass the pre-auth limit: %v", MaxTokenSize, len(hello), err)
	}
	put := AppendPut(nil, 1, Put{Key: make([]byte, l.MaxKeySize), Value: make([]byte, l.MaxValueSize)})
	if _, _, err := Decode(put, l.MaxFrameSize); err != nil {
		t.Fatalf("a PUT at max key and value (%d B) does not pass MaxFrameSize: %v", len(put), err)
	}
}

func TestLimitsValidate(t *testing.T) {
	mod := func(f func(*Limits)) Limits { l := DefaultLimits(); f(&l); return l }
	tests := []struct {
		name string
		l    Limits
		ok   bool
	}{
		{"defaults", DefaultLimits(), true},
		{"pre-auth at minimum", mod(func(l *Limits) { l.MaxPreAuthFrameSize = HeaderSize + 64 }), true},
		{"pre-auth one under minimum", mod(func(l *Limits) { l.MaxPreAuthFrameSize = HeaderSize + 63 }), false},
		{"frame 1GiB", mod(func(l *Limits) { l.MaxFrameSize = 1 << 30 }), true},
		{"frame one over 1GiB", mod(func(l *Limits) { l.MaxFrameSize = 1<<30 + 1 }), false},
		{"frame below pre-auth", mod(func(l *Limits) { l.MaxFrameSize = l.MaxPreAuthFrameSize - 1 }), false},
		{"key 65535", mod(func(l *Limits) { l.MaxKeySize = 0xFFFF }), true},
		{"key 65536", mod(func(l *Limits) { l.MaxKeySize = 0x10000 }), false},
		{"key 0", mod(func(l *Limits) { l.MaxKeySize = 0 }), false},
		{"value fills frame", mod(func(l *Limits) { l.MaxValueSize = l.MaxFrameSize - l.MaxKeySize - 64 }), true},
		{"value one over frame", mod(func(l *Limits) { l.MaxValueSize = l.MaxFrameSize - l.MaxKeySize - 63 }), false},
		{"value negative", mod(func(l *Limits) { l.MaxValueSize = -1 }), false},
		{"batch 65535", mod(func(l *Limits) { l.MaxBatchKeys = 0xFFFF }), true},
		{"batch 65536", mod(func(l *Limits) { l.MaxBatchKeys = 0x10000 }), false},
		{"batch 0", mod(func(l *Limits) { l.MaxBatchKeys = 0 }), false},
		{"zero value", Limits{}, false},
	}
	for _, tc := range tests {
		if err := tc.l.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
