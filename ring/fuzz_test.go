package ring

import (
	"errors"
	"slices"
	"testing"
)

// FuzzRing builds rings from arbitrary membership text and shapes. It must
// never panic; bad input must fail with a sentinel error; good input must
// give a ring whose rows are valid, whose incremental removal matches a full
// build, and whose lookups stay in range.
func FuzzRing(f *testing.F) {
	f.Add("a x:1\nb x:2\nc x:3\n", uint8(4), uint8(3), uint8(0))
	f.Add("a x:1 zone=z1\nb x:2 zone=z2 weight=5\nc x:3 zone=z1\nd - zone=z3 weight=0.1\n", uint8(6), uint8(2), uint8(10))
	f.Add("a x:1\na x:2\n", uint8(3), uint8(1), uint8(0))
	f.Add("a x:1 weight=0\n", uint8(3), uint8(1), uint8(0))
	f.Add("", uint8(3), uint8(1), uint8(0))
	f.Fuzz(func(t *testing.T, text string, logP, replicas, slack uint8) {
		nodes, err := ParseMembership(text)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrBadWeight) && !errors.Is(err, ErrBadToken) && !errors.Is(err, ErrEmptyID) {
				t.Fatalf("ParseMembership: unexpected error %v", err)
			}
			return
		}
		if len(nodes) > 64 {
			return // keep each run fast
		}
		cfg := Config{Partitions: 1 << (logP % 12), Replicas: int(replicas % 8), Slack: float64(slack%101) / 100}
		r, err := New(cfg, nodes, 7)
		if err != nil {
			if r != nil || !isRingError(err) {
				t.Fatalf("New: %v (ring %v)", err, r)
			}
			return
		}
		checkRows(t, r)
		if p, owners := r.Lookup([]byte(text)); int(p) >= r.Partitions() || len(owners) != r.Replicas() {
			t.Fatalf("Lookup out of range: %d %v", p, owners)
		}
		if len(r.Nodes()) > r.Replicas() {
			gone := r.Nodes()[0].ID
			inc, err := r.WithoutNode(gone)
			if err != nil {
				t.Fatal(err)
			}
			rest := slices.Clone(r.Nodes()[1:])
			full, err := New(cfg, rest, 8)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(inc.table, full.table) || inc.Hash() != full.Hash() {
				t.Fatal("incremental removal differs from a full build")
			}
		}
	})
}

func isRingError(err error) bool {
	for _, e := range []error{ErrNoNodes, ErrDuplicateID, ErrEmptyID, ErrBadWeight, ErrBadToken,
		ErrTooFewNodes, ErrTooManyNodes, ErrPartitions, ErrReplicas, ErrSlack} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzParseMembership checks that whatever parses formats back to text that
// parses to the same nodes.
func FuzzParseMembership(f *testing.F) {
	f.Add("n1 10.0.0.1:7000 zone=a weight=2\n# c\n\nn2 - weight=1e-3\n")
	f.Add("n1 a:1 zone= weight=1.0000000001")
	f.Add("x y zone=a=b")
	f.Fuzz(func(t *testing.T, text string) {
		nodes, err := ParseMembership(text)
		if err != nil {
			return
		}
		again, err := ParseMembership(FormatMembership(nodes))
		if err != nil {
			t.Fatalf("formatted membership does not parse: %v\n%q", err, FormatMembership(nodes))
		}
		if !slices.Equal(nodes, again) {
			t.Fatalf("round trip changed nodes:\n%+v\n%+v", nodes, again)
		}
	})
}
