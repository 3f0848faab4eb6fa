package protocol

import "strconv"

// Status is the result code of a reply, carried in the header. Numbers are
// append-only: a code, once released, keeps its number and meaning forever.
type Status uint8

const (
	StatusOK           Status = 0  // done
	StatusNotFound     Status = 1  // the key has no live value (never written, or deleted)
	StatusBadRequest   Status = 2  // malformed frame or field; nothing was applied
	StatusTooLarge     Status = 3  // a frame, key, value or batch over its limit; nothing applied
	StatusBusy         Status = 4  // shed under load before any work; retry later
	StatusUnavailable  Status = 5  // too few replicas up to try; nothing was sent
	StatusTimeout      Status = 6  // the deadline passed; the write may or may not be applied
	StatusPartial      Status = 7  // fewer than W replicas acknowledged; may be applied
	StatusUnauthorized Status = 8  // HELLO missing, or a wrong token
	StatusWrongEpoch   Status = 9  // the sender's ring epoch is stale; nothing applied
	StatusInternal     Status = 10 // a server fault (e.g. disk); outcome unknown
	StatusSuperseded   Status = 11 // replica op: a newer version is stored; this write lost by LWW
)

// Outcome is the class of a status, the one thing a caller must branch on.
type Outcome uint8

const (
	// OutcomeOK: the operation took effect (or, for reads, answered).
	OutcomeOK Outcome = iota
	// OutcomeFailed: definitely applied nowhere; safe to retry as-is.
	OutcomeFailed
	// OutcomeUnknown: it may have been applied on some replicas. A write
	// that reached some replicas but not W is unknown, never failed.
	OutcomeUnknown
)

var statusNames = [...]string{
	StatusOK:           "OK",
	StatusNotFound:     "NOT_FOUND",
	StatusBadRequest:   "BAD_REQUEST",
	StatusTooLarge:     "TOO_LARGE",
	StatusBusy:         "BUSY",
	StatusUnavailable:  "UNAVAILABLE",
	StatusTimeout:      "TIMEOUT",
	StatusPartial:      "PARTIAL",
	StatusUnauthorized: "UNAUTHORIZED",
	StatusWrongEpoch:   "WRONG_EPOCH",
	StatusInternal:     "INTERNAL",
	StatusSuperseded:   "SUPERSEDED",
}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "STATUS_" + strconv.Itoa(int(s))
}

// Known reports whether this version of the protocol defines s.
func (s Status) Known() bool { return int(s) < len(statusNames) }

// Outcome classifies s. A status this version does not know is unknown:
// a newer server might have applied the write.
func (s Status) Outcome() Outcome {
	switch s {
	case StatusOK, StatusNotFound, StatusSuperseded:
		return OutcomeOK
	case StatusBadRequest, StatusTooLarge, StatusBusy, StatusUnavailable,
		StatusUnauthorized, StatusWrongEpoch:
		return OutcomeFailed
	default:
		return OutcomeUnknown
	}
}

func (o Outcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeFailed:
		return "failed"
	default:
		return "unknown"
	}
}
