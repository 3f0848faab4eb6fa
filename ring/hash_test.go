package ring

import (
	"math"
	"testing"
)

// TestNegLog2 checks the fixed-point logarithm against math.Log2 and its
// monotonicity, which placement relies on.
func TestNegLog2(t *testing.T) {
	prev := uint64(math.MaxUint64)
	for i := range 200000 {
		m := uint64(i+1) << 34 // increasing m in [2^34, 2^52]
		got := negLog2(m << 11)
		want := 53 - math.Log2(float64(m+1))
		if d := math.Abs(float64(got)/(1<<logFracBits) - want); d > 1e-6 {
			t.Fatalf("negLog2(m=%d) = %v, want %v", m, float64(got)/(1<<logFracBits), want)
		}
		if got > prev {
			t.Fatalf("negLog2 not monotone at m=%d", m)
		}
		prev = got
	}
	if negLog2(math.MaxUint64) != 0 {
		t.Fatal("u=1 must give 0")
	}
	if got := float64(negLog2(0)) / (1 << logFracBits); got != 53 {
		t.Fatalf("smallest u gives %v, want 53", got)
	}
}
