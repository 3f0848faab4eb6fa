package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
)

// TestStatusOutcomes pins every status to its outcome class. A change here
// changes what clients may retry, so it must be deliberate.
func TestStatusOutcomes(t *testing.T) {
	tests := []struct {
		s    Status
		name string
		want Outcome
	}{
		{StatusOK, "OK", OutcomeOK},
		{StatusNotFound, "NOT_FOUND", OutcomeOK},
		{StatusBadRequest, "BAD_REQUEST", OutcomeFailed},
		{StatusTooLarge, "TOO_LARGE", OutcomeFailed},
		{StatusBusy, "BUSY", OutcomeFailed},
		{StatusUnavailable, "UNAVAILABLE", OutcomeFailed},
		{StatusTimeout, "TIMEOUT", OutcomeUnknown},
		{StatusPartial, "PARTIAL", OutcomeUnknown},
		{StatusUnauthorized, "UNAUTHORIZED", OutcomeFailed},
		{StatusWrongEpoch, "WRONG_EPOCH", OutcomeFailed},
		{StatusInternal, "INTERNAL", OutcomeUnknown},
		{StatusSuperseded, "SUPERSEDED", OutcomeOK},
		{12, "STATUS_12", OutcomeUnknown},
		{255, "STATUS_255", OutcomeUnknown},
	}
	known := 0
	for _, tc := range tests {
		if tc.s.Outcome() != tc.want || tc.s.String() != tc.name {
			t.Errorf("status %d: %s/%s, want %s/%s", uint8(tc.s), tc.s, tc.s.Outcome(), tc.name, tc.want)
		}
		if tc.s.Known() {
			known++
		}
	}
	if known != len(statusNames) {
		t.Errorf("%d known statuses in the table, %d defined: add the new one here", known, len(statusNames))
	}
	for o, want := range map[Outcome]string{OutcomeOK: "ok", OutcomeFailed: "failed", OutcomeUnknown: "unknown"} {
		if o.String() != want {
			t.Errorf("Outcome %d String %q", o, o.String())
		}
	}
}

// TestOpcodeNumbers pins the append-only numbering: a released opcode
// never changes number or name.
func TestOpcodeNumbers(t *testing.T) {
	tests := []struct {
		op      Opcode
		num     uint8
		name    string
		replica bool
	}{
		{OpHello, 0x01, "HELLO", false}, {OpPing, 0x02, "PING", false}, {OpPut, 0x03, "PUT", false},
		{OpGet, 0x04, "GET", false}, {OpDel, 0x05, "DEL", false}, {OpStats, 0x06, "STATS", false},
		{OpMPut, 0x07, "MPUT", false}, {OpMGet, 0x08, "MGET", false},
		{OpReplicaPut, 0x20, "RPUT", true}, {OpReplicaGet, 0x21, "RGET", true}, {OpReplicaDel, 0x22, "RDEL", true},
		{OpReplicaBatch, 0x23, "RBATCH", true}, {OpReplicaScan, 0x24, "RSCAN", true}, {OpReplicaDigest, 0x25, "RDIGEST", true},
		{OpReplicaEpoch, 0x26, "REPOCH", true}, {OpReplicaDrop, 0x27, "RDROP", true},
		{OpReplicaBuckets, 0x28, "RBUCKETS", true}, {OpReplicaBucketScan, 0x29, "RBSCAN", true},
	}
	for _, tc := range tests {
		if uint8(tc.op) != tc.num || tc.op.String() != tc.name || !tc.op.Known() || tc.op.IsReplica() != tc.replica {
			t.Errorf("opcode 0x%02x: %s known=%v replica=%v", tc.num, tc.op, tc.op.Known(), tc.op.IsReplica())
		}
	}
	if len(opNames) != len(tests) {
		t.Errorf("%d opcodes defined, %d pinned here: add the new one", len(opNames), len(tests))
	}
	for _, op := range []Opcode{0, 0x09, 0x1F, 0x2A, 0xFF} {
		if op.Known() || op.String() != fmt.Sprintf("OP_0x%x", uint8(op)) {
			t.Errorf("undefined opcode 0x%02x: Known=%v String=%s", uint8(op), op.Known(), op)
		}
	}
	if Opcode(0x2A).IsReplica() || Opcode(0x1F).IsReplica() {
		t.Error("IsReplica outside 0x20..0x29")
	}
}

type statusErr struct{}

func (statusErr) Error() string  { return "custom" }
func (statusErr) Status() Status { return StatusBusy }

func TestStatusOf(t *testing.T) {
	sentinel := NewError(StatusWrongEpoch, "ring: stale epoch")
	tests := []struct {
		name string
		err  error
		want Status
	}{
		{"nil", nil, StatusOK},
		{"malformed", ErrMalformed, StatusBadRequest},
		{"incomplete", ErrIncomplete, StatusBadRequest},
		{"frame too large", ErrFrameTooLarge, StatusTooLarge},
		{"key too large", ErrKeyTooLarge, StatusTooLarge},
		{"value too large", ErrValueTooLarge, StatusTooLarge},
		{"batch too large", ErrBatchTooLarge, StatusTooLarge},
		{"empty key", ErrEmptyKey, StatusBadRequest},
		{"bad quorum", ErrBadQuorum, StatusBadRequest},
		{"checksum", ErrChecksum, StatusBadRequest},
		{"unknown opcode", ErrUnknownOpcode, StatusBadRequest},
		{"bad magic", ErrBadMagic, StatusBadRequest},
		{"version", ErrVersion, StatusBadRequest},
		{"hello first", ErrHelloFirst, StatusUnauthorized},
		{"unauthorized", ErrUnauthorized, StatusUnauthorized},
		{"wrapped twice", fmt.Errorf("cannot serve put: %w", fmt.Errorf("cannot decode: %w", ErrKeyTooLarge)), StatusTooLarge},
		{"other package sentinel", fmt.Errorf("cannot route: %w", sentinel), StatusWrongEpoch},
		{"any Status method", statusErr{}, StatusBusy},
		{"context deadline", context.DeadlineExceeded, StatusTimeout},
		{"net deadline", fmt.Errorf("cannot read: %w", os.ErrDeadlineExceeded), StatusTimeout},
		{"canceled", context.Canceled, StatusTimeout},
		{"io error", io.ErrUnexpectedEOF, StatusInternal},
		{"plain error", errors.New("disk on fire"), StatusInternal},
	}
	for _, tc := range tests {
		if got := StatusOf(tc.err); got != tc.want {
			t.Errorf("%s: StatusOf(%v) = %s, want %s", tc.name, tc.err, got, tc.want)
		}
	}
	if sentinel.Error() != "ring: stale epoch" || sentinel.Status() != StatusWrongEpoch {
		t.Errorf("NewError: %q %s", sentinel.Error(), sentinel.Status())
	}
}
