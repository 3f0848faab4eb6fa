package ring

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestNewRejectsBadInput(t *testing.T) {
	three := equalNodes(3, 0)
	cases := []struct {
		name  string
		cfg   Config
		nodes []Node
		want  error
	}{
		{"zero nodes", Config{}, nil, ErrNoNodes},
		{"duplicate IDs", Config{Replicas: 1}, []Node{{ID: "a", Weight: 1}, {ID: "a", Weight: 1}}, ErrDuplicateID},
		{"empty ID", Config{Replicas: 1}, []Node{{ID: "", Weight: 1}}, ErrEmptyID},
		{"zero weight", Config{Replicas: 1}, []Node{{ID: "a", Weight: 0}}, ErrBadWeight},
		{"negative weight", Config{Replicas: 1}, []Node{{ID: "a", Weight: -1}}, ErrBadWeight},
		{"NaN weight", Config{Replicas: 1}, []Node{{ID: "a", Weight: math.NaN()}}, ErrBadWeight},
		{"Inf weight", Config{Replicas: 1}, []Node{{ID: "a", Weight: math.Inf(1)}}, ErrBadWeight},
		{"space in ID", Config{Replicas: 1}, []Node{{ID: "a b", Weight: 1}}, ErrBadToken},
		{"N > nodes", Config{Replicas: 4}, three, ErrTooFewNodes},
		{"P not power of two", Config{Partitions: 12}, three, ErrPartitions},
		{"P too large", Config{Partitions: 1 << 21}, three, ErrPartitions},
		{"negative replicas", Config{Replicas: -1}, three, ErrReplicas},
		{"slack NaN", Config{Slack: math.NaN()}, three, ErrSlack},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := New(c.cfg, c.nodes, 1)
			if !errors.Is(err, c.want) || r != nil {
				t.Fatalf("New = %v, %v; want error %v", r, err, c.want)
			}
		})
	}
}

// TestSmallRingByHand checks a ring small enough to reason about: 3 nodes and
// 3 replicas means every node owns every partition.
func TestSmallRingByHand(t *testing.T) {
	r := mustNew(t, Config{Partitions: 4, Replicas: 3}, []Node{
		{ID: "c", Addr: "h3:1", Weight: 1}, {ID: "a", Addr: "h1:1", Weight: 1}, {ID: "b", Addr: "h2:1", Weight: 2},
	})
	if got := []string{r.Node(0).ID, r.Node(1).ID, r.Node(2).ID}; !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("nodes not sorted by ID: %v", got)
	}
	for p := range uint32(4) {
		got := slices.Sorted(slices.Values(r.Owners(p)))
		if !slices.Equal(got, []uint16{0, 1, 2}) {
			t.Errorf("Owners(%d) = %v, want all three nodes", p, got)
		}
	}
	if r.Owners(4) != nil {
		t.Error("Owners out of range should be nil")
	}
	if i, ok := r.NodeIndex("c"); !ok || i != 2 {
		t.Errorf("NodeIndex(c) = %d, %v", i, ok)
	}
	if _, ok := r.NodeIndex("zz"); ok {
		t.Error("NodeIndex of unknown ID reported ok")
	}
	if r.Node(9) != (Node{}) {
		t.Error("Node out of range should be zero")
	}
}

func TestDefaults(t *testing.T) {
	r := mustNew(t, Config{}, equalNodes(5, 0))
	if r.Partitions() != DefaultPartitions || r.Replicas() != DefaultReplicas || r.Epoch() != 1 {
		t.Fatalf("P=%d N=%d epoch=%d", r.Partitions(), r.Replicas(), r.Epoch())
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLookupMatchesPartitionAndOwners(t *testing.T) {
	r := mustNew(t, Config{Partitions: 256}, equalNodes(7, 0))
	for _, k := range []string{"", "a", "user:42", "a much longer key than usual, past 16 bytes"} {
		p, owners := r.Lookup([]byte(k))
		if p != r.Partition([]byte(k)) || !slices.Equal(owners, r.Owners(p)) {
			t.Errorf("Lookup(%q) disagrees with Partition/Owners", k)
		}
	}
}

func TestPreference(t *testing.T) {
	r := mustNew(t, Config{Partitions: 64}, equalNodes(12, 3))
	for p := range uint32(64) {
		pref := r.Preference(p, nil, 20)
		if len(pref) != 12 {
			t.Fatalf("Preference(%d) has %d nodes, want all 12", p, len(pref))
		}
		if !slices.Equal(pref[:3], r.Owners(p)) {
			t.Fatalf("Preference(%d) starts %v, want owners %v", p, pref[:3], r.Owners(p))
		}
		if len(slices.Compact(slices.Sorted(slices.Values(pref)))) != 12 {
			t.Fatalf("Preference(%d) repeats a node: %v", p, pref)
		}
	}
	if got := r.Preference(1, []uint16{99}, 2); len(got) != 3 || got[0] != 99 {
		t.Fatalf("Preference does not append: %v", got)
	}
}

// TestPreferenceFollowsCandidateOrder checks that the entries after the
// owners are the candidate order without the owners, both when computed
// pass by pass (short lists) and from the full order (long lists), on a
// ring whose capacity pass moved some owners off the rendezvous prefix.
func TestPreferenceFollowsCandidateOrder(t *testing.T) {
	r := mustNew(t, Config{Partitions: 256}, equalNodes(40, 3))
	if len(r.exc.rows) == 0 {
		t.Fatal("no exception rows: the test would not cover owners outside the prefix")
	}
	for p := range uint32(256) {
		owners := r.Owners(p)
		var want []uint16
		want = append(want, owners...)
		for _, n := range r.m.fullOrder(p) {
			if !slices.Contains(owners, n) {
				want = append(want, n)
			}
		}
		for _, n := range []int{5, 12, 40} {
			if got := r.Preference(p, nil, n); !slices.Equal(got, want[:n]) {
				t.Fatalf("Preference(%d, %d) = %v, want %v", p, n, got, want[:n])
			}
		}
	}
}

func TestWithEpochSharesTable(t *testing.T) {
	r := mustNew(t, Config{Partitions: 64}, equalNodes(4, 0))
	e := r.WithEpoch(9)
	if e.Epoch() != 9 || r.Epoch() != 1 || e.Hash() != r.Hash() {
		t.Fatal("WithEpoch changed more than the epoch")
	}
}

func TestHashIgnoresInputOrderButNotAddr(t *testing.T) {
	nodes := equalNodes(6, 2)
	a := mustNew(t, Config{Partitions: 64}, nodes)
	b := mustNew(t, Config{Partitions: 64}, reversed(nodes))
	if a.Hash() != b.Hash() {
		t.Fatal("hash depends on input order")
	}
	nodes[0].Addr = "elsewhere:1"
	c := mustNew(t, Config{Partitions: 64}, nodes)
	if c.Hash() == a.Hash() || !slices.Equal(c.table, a.table) {
		t.Fatal("address must change the hash but not the table")
	}
}

func TestChangeErrors(t *testing.T) {
	r := mustNew(t, Config{Partitions: 64}, equalNodes(3, 0))
	if _, err := r.WithNode(Node{ID: "n0000", Weight: 1}); !errors.Is(err, ErrDuplicateID) {
		t.Errorf("WithNode duplicate: %v", err)
	}
	if _, err := r.WithNode(Node{ID: "x", Weight: 0}); !errors.Is(err, ErrBadWeight) {
		t.Errorf("WithNode zero weight: %v", err)
	}
	if _, err := r.WithoutNode("n0000"); !errors.Is(err, ErrTooFewNodes) {
		t.Errorf("WithoutNode below N: %v", err)
	}
	if _, err := r.WithoutNode("zz"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("WithoutNode unknown: %v", err)
	}
	if _, err := r.WithWeight("n0000", math.Inf(1)); !errors.Is(err, ErrBadWeight) {
		t.Errorf("WithWeight Inf: %v", err)
	}
}

// TestFullOrderMatchesComputeRow checks the two ways of computing candidate
// order against each other, with and without zones.
func TestFullOrderMatchesComputeRow(t *testing.T) {
	for _, zones := range []int{0, 3, 5, 30} {
		m, err := newMembers(equalNodes(30, zones), 6)
		if err != nil {
			t.Fatal(err)
		}
		s := newRowScratch(m, 30)
		vals := make([]uint64, 30)
		for p := range uint32(50) {
			row := make([]uint16, 30)
			m.recomputeRow(p, row, s, vals)
			if full := m.fullOrder(p); !slices.Equal(row, full) {
				t.Fatalf("zones=%d p=%d: computeRow %v, fullOrder %v", zones, p, row, full)
			}
		}
	}
}
