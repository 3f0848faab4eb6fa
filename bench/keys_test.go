package bench

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestAppendKey(t *testing.T) {
	for _, tc := range []struct {
		i    uint64
		want string
	}{{0, "key:000000000000"}, {42, "key:000000000042"}, {MaxKeys - 1, "key:999999999999"}} {
		if got := string(appendKey(nil, tc.i)); got != tc.want || len(got) != keyLen {
			t.Errorf("appendKey(%d) = %q, want %q", tc.i, got, tc.want)
		}
	}
	buf := make([]byte, 0, keyLen)
	if n := testing.AllocsPerRun(100, func() { buf = appendKey(buf[:0], 7) }); n != 0 {
		t.Errorf("appendKey allocates %v times", n)
	}
}

func TestUniformCoversTheKeySpace(t *testing.T) {
	ks := newKeyspace(10, DistUniform, 0)
	r := rand.New(rand.NewPCG(1, 2))
	var seen [10]int
	for range 10000 {
		seen[ks.next(r)]++
	}
	for k, n := range seen {
		if n < 800 || n > 1200 {
			t.Errorf("key %d drawn %d times of 10000", k, n)
		}
	}
}

// The zipfian's rank frequencies must follow 1/(rank+1)^theta / zeta(n).
// Gray's method is exact for ranks 0 and 1 and approximates the rest (rank
// 2 comes out ~15% high), hence the looser bound past rank 1.
func TestZipfFollowsItsLaw(t *testing.T) {
	const n, draws, theta = 1000, 400000, 0.99
	ks := newKeyspace(n, DistZipf, theta)
	r := rand.New(rand.NewPCG(3, 4))
	counts := make([]int, n)
	for range draws {
		k := ks.next(r)
		if k >= n {
			t.Fatalf("draw %d out of [0,%d)", k, n)
		}
		counts[k]++
	}
	zn := zeta(n, theta)
	for _, tc := range []struct {
		rank int
		tol  float64
	}{{0, 0.03}, {1, 0.05}, {2, 0.25}, {9, 0.25}, {99, 0.25}} {
		rank := tc.rank
		want := draws / zn / math.Pow(float64(rank+1), theta)
		if got := float64(counts[rank]); got < (1-tc.tol)*want || got > (1+tc.tol)*want {
			t.Errorf("rank %d drawn %.0f times, want ~%.0f", rank, got, want)
		}
	}
	top10 := 0
	for _, c := range counts[:10] {
		top10 += c
	}
	if frac := float64(top10) / draws; frac < 0.35 || frac > 0.45 {
		t.Errorf("top 10 of 1000 keys got %.2f of draws, want ~0.39", frac)
	}
}

func TestZipfTinyKeySpaces(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int64{1, 2, 3} {
		ks := newKeyspace(n, DistZipf, 0.99)
		for range 1000 {
			if k := ks.next(r); k >= uint64(n) {
				t.Fatalf("n=%d drew %d", n, k)
			}
		}
	}
}
