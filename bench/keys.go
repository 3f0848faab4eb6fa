package bench

import (
	"math"
	"math/rand/v2"
)

// keyDigits is the zero-padded width of key numbers. "key:" plus 12 digits
// gives 16-byte keys, the same as redis-benchmark's "key:__rand_int__".
const keyDigits = 12

// keyLen is the length of every generated key.
const keyLen = 4 + keyDigits

// keyspace draws key numbers in [0, n). It is immutable after newKeyspace,
// so all writers share it; each brings its own *rand.Rand.
type keyspace struct {
	n    uint64
	zipf *zipfian // nil for uniform
}

func newKeyspace(n int64, dist Dist, theta float64) *keyspace {
	ks := &keyspace{n: uint64(n)}
	if dist == DistZipf {
		ks.zipf = newZipfian(ks.n, theta)
	}
	return ks
}

func (k *keyspace) next(r *rand.Rand) uint64 {
	if k.zipf != nil {
		return k.zipf.next(r)
	}
	return r.Uint64N(k.n)
}

// appendKey appends "key:" and i as keyDigits zero-padded decimal digits,
// without allocating.
func appendKey(dst []byte, i uint64) []byte {
	dst = append(dst, "key:"...)
	var d [keyDigits]byte
	for j := keyDigits - 1; j >= 0; j-- {
		d[j] = byte('0' + i%10)
		i /= 10
	}
	return append(dst, d[:]...)
}

// zipfian is the generator of Gray et al., "Quickly Generating
// Billion-Record Synthetic Databases" (SIGMOD 1994), as used by YCSB: rank
// 0 is the most popular, and P(rank i) is proportional to 1/(i+1)^theta.
// It needs theta in (0,1) and an O(n) zeta sum up front; each draw is O(1).
type zipfian struct {
	n            uint64
	theta, alpha float64
	zetan, eta   float64
	half         float64 // 1 + 0.5^theta: the bound of rank 1
}

func newZipfian(n uint64, theta float64) *zipfian {
	zetan := zeta(n, theta)
	zeta2 := zeta(2, theta)
	return &zipfian{
		n:     n,
		theta: theta,
		alpha: 1 / (1 - theta),
		zetan: zetan,
		eta:   (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/zetan),
		half:  1 + math.Pow(0.5, theta),
	}
}

// zeta is the generalised harmonic number: the sum of 1/i^theta, i in 1..n.
func zeta(n uint64, theta float64) float64 {
	var s float64
	for i := uint64(1); i <= n; i++ {
		s += 1 / math.Pow(float64(i), theta)
	}
	return s
}

func (z *zipfian) next(r *rand.Rand) uint64 {
	u := r.Float64()
	uz := u * z.zetan
	switch {
	case uz < 1:
		return 0
	case uz < z.half || z.n < 3:
		return min(1, z.n-1)
	}
	v := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(v, z.n-1)
}
