package systest

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/protocol"
)

// Kind is a recorded operation's type.
type Kind uint8

const (
	Put Kind = iota + 1
	Get
	Del
)

func (k Kind) String() string {
	switch k {
	case Put:
		return "put"
	case Get:
		return "get"
	case Del:
		return "del"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Outcome is the class of an operation's result: the one thing the
// checkers branch on.
type Outcome uint8

const (
	OK       Outcome = iota + 1 // acknowledged (for reads: answered with a value)
	NotFound                    // answered: no live value
	Failed                      // definitely applied nowhere
	Unknown                     // may or may not have been applied
)

func (o Outcome) String() string {
	return [...]string{"?", "ok", "not_found", "failed", "unknown"}[min(int(o), 4)]
}

// Classify maps a client error to its outcome class. An error in no
// class is treated as Unknown, the only safe reading, and is counted by
// the workload as unclassified (a client defect).
func Classify(err error) (o Outcome, classified bool) {
	switch {
	case err == nil:
		return OK, true
	case errors.Is(err, client.ErrNotFound):
		return NotFound, true
	case errors.Is(err, client.ErrUnknownOutcome):
		return Unknown, true
	case errors.Is(err, client.ErrFailed):
		return Failed, true
	}
	return Unknown, false
}

// Infinity is the return time of an operation whose outcome is unknown:
// it may take effect at any time after its call, as etcd's robustness
// tests record it.
const Infinity = math.MaxInt64

// Op is one recorded operation. Times are nanoseconds since the
// History's start, on the monotonic clock.
type Op struct {
	Worker  int
	Kind    Kind
	Key     string
	Value   string // Put: the value written; Get: the value read
	Version protocol.Version
	Outcome Outcome
	Call    int64
	Return  int64         // Infinity for an Unknown outcome
	Took    time.Duration // how long the call took, whatever its outcome
	Err     string
}

// Event is a fault or a phase change, to relate ops to faults.
type Event struct {
	At   int64
	What string
}

// History is a concurrent recorder of operations and events.
type History struct {
	start  time.Time
	mu     sync.Mutex
	ops    []Op
	events []Event
}

// NewHistory starts a history's clock.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the current time on the history's clock.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Add records op; an Unknown outcome's return time becomes Infinity.
func (h *History) Add(op Op) {
	if op.Outcome == Unknown {
		op.Return = Infinity
	}
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Mark records an event now and returns its time.
func (h *History) Mark(what string) int64 {
	at := h.Now()
	h.mu.Lock()
	h.events = append(h.events, Event{At: at, What: what})
	h.mu.Unlock()
	return at
}

// Ops returns a copy of the recorded operations.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Events returns a copy of the recorded events.
func (h *History) Events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...)
}

// Counts tallies operations by outcome.
type Counts struct {
	Ops, OK, NotFound, Failed, Unknown int
	AckedWrites                        int // puts and dels answered OK (or NOT_FOUND for a del)
}

// Count tallies ops whose call time lies in [from, to).
func Count(ops []Op, from, to int64) Counts {
	var c Counts
	for _, op := range ops {
		if op.Call < from || op.Call >= to {
			continue
		}
		c.Ops++
		switch op.Outcome {
		case OK:
			c.OK++
		case NotFound:
			c.NotFound++
		case Failed:
			c.Failed++
		case Unknown:
			c.Unknown++
		}
		if op.Kind != Get && (op.Outcome == OK || op.Outcome == NotFound) {
			c.AckedWrites++
		}
	}
	return c
}

// Succeeded is the fraction of ops answered (OK or NOT_FOUND).
func (c Counts) Succeeded() float64 {
	if c.Ops == 0 {
		return 0
	}
	return float64(c.OK+c.NotFound) / float64(c.Ops)
}

func (c Counts) String() string {
	return fmt.Sprintf("ops=%d ok=%d not_found=%d failed=%d unknown=%d acked_writes=%d",
		c.Ops, c.OK, c.NotFound, c.Failed, c.Unknown, c.AckedWrites)
}

// MaxTook is the longest call among ops.
func MaxTook(ops []Op) time.Duration {
	var m time.Duration
	for _, op := range ops {
		m = max(m, op.Took)
	}
	return m
}
