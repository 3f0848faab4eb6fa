package systest

import (
	"fmt"
	"sort"
)

// Reader reads one key for a checker: its value and whether it has one.
// err means the read itself did not succeed (after any retries).
type Reader func(key string) (value string, found bool, err error)

// SetReport is the verdict of CheckSet.
type SetReport struct {
	Acked          int      // puts acknowledged OK
	Unknown        int      // puts of unknown outcome
	UnknownApplied int      // ... of which the value is present
	Failed         int      // puts that failed (must not be present)
	Lost           []string // acknowledged keys not found: the promise broken
	Corrupt        []string // keys holding a value never written to them
	FailedApplied  []string // keys of failed puts that are present after all
	Unread         []string // keys the checker could not read
}

// OK reports whether no acknowledged write is lost and nothing else is
// wrong.
func (r SetReport) OK() bool {
	return len(r.Lost)+len(r.Corrupt)+len(r.FailedApplied)+len(r.Unread) == 0
}

func (r SetReport) String() string {
	return fmt.Sprintf("acked=%d lost=%d corrupt=%d unknown=%d (applied %d) failed=%d (applied %d) unread=%d%s",
		r.Acked, len(r.Lost), len(r.Corrupt), r.Unknown, r.UnknownApplied, r.Failed,
		len(r.FailedApplied), len(r.Unread), sample(r.Lost, r.Corrupt, r.FailedApplied, r.Unread))
}

// CheckSet reads back every key a SetMix history wrote once. An
// acknowledged key must hold exactly its value; a failed one must be
// absent (failed means applied nowhere); an unknown one may be either,
// but never another value.
func CheckSet(ops []Op, read Reader) SetReport {
	var r SetReport
	for _, op := range ops {
		if op.Kind != Put {
			continue
		}
		val, found, err := read(op.Key)
		switch {
		case err != nil:
			r.Unread = append(r.Unread, op.Key)
			continue
		case found && val != op.Value:
			r.Corrupt = append(r.Corrupt, op.Key)
		}
		switch op.Outcome {
		case OK:
			r.Acked++
			if !found {
				r.Lost = append(r.Lost, op.Key)
			}
		case Unknown:
			r.Unknown++
			if found {
				r.UnknownApplied++
			}
		case Failed:
			r.Failed++
			if found {
				r.FailedApplied = append(r.FailedApplied, op.Key)
			}
		}
	}
	return r
}

// sample names up to a few keys of the first non-empty list, for a
// failure message that can be followed up.
func sample(lists ...[]string) string {
	for _, l := range lists {
		if len(l) > 0 {
			s := append([]string(nil), l...)
			sort.Strings(s)
			return fmt.Sprintf(" e.g. %q", s[:min(5, len(s))])
		}
	}
	return ""
}
