package ring

import "math/bits"

// Placement must be the same on every platform and Go version, so draws use
// only integer arithmetic: XORs of per-node columns drawn from a 64-bit mix
// (see stratified.go) and a fixed-point log2 from a table built by integer
// squaring. A float is formed
// only at the end, by one exact conversion and one multiplication, which
// IEEE 754 rounds identically everywhere (no fused multiply-add can apply).

const (
	logTableBits = 10 // 8 KiB table; linear interpolation error < 2e-7
	logFracBits  = 40 // fixed-point precision of log2 results (Q40)
)

var log2Table = buildLog2Table()

// splitmix returns the i-th output of the SplitMix64 stream seeded by seed.
// The finalizer is the "Stafford variant 13" mixer, which has full
// avalanche, so seeds that differ by a constant still give independent
// streams.
func splitmix(seed uint64, i uint64) uint64 {
	x := seed + (i+1)*0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// negLog2 returns -log2(u) in Q40 fixed point, for u = (h>>11 + 1)/2^53 in
// (0, 1]. It is monotone non-increasing in h. With m = h>>11 + 1 ≥ 1 and
// lz its leading zeros (≥ 10, since m ≤ 2^53), -log2(u) = 53 - log2(m) =
// (lz - 10) - log2(mantissa), and the mantissa's log2 comes from the table by
// linear interpolation on the next 32 bits. Kept small enough to inline.
func negLog2(h uint64) uint64 {
	m := h>>11 + 1
	lz := bits.LeadingZeros64(m)
	f := m << lz << 1 // mantissa fraction, Q64
	i := f >> (64 - logTableBits)
	lo := log2Table[i]
	l := lo + (log2Table[i+1]-lo)*(f<<logTableBits>>32)>>32
	return uint64(lz-10)<<logFracBits - l
}

// buildLog2Table tabulates log2(1 + i/2^logTableBits) in Q40.
func buildLog2Table() *[1<<logTableBits + 1]uint64 {
	var t [1<<logTableBits + 1]uint64
	for i := range t {
		t[i] = log2Q40(1<<62 + uint64(i)<<(62-logTableBits))
	}
	return &t
}

// log2Q40 computes log2(x) for x in [1, 2] given in Q62, bit by bit: square
// x; if the square reaches 2, the next result bit is 1 and x halves.
func log2Q40(x uint64) uint64 {
	if x >= 2<<62 {
		return 1 << logFracBits
	}
	var r uint64
	for b := logFracBits - 1; b >= 0; b-- {
		hi, lo := bits.Mul64(x, x)
		x = hi<<2 | lo>>62
		if x >= 2<<62 {
			x >>= 1
			r |= 1 << b
		}
	}
	return r
}
