package daemon

import (
	"math/bits"
	"sync"
)

// Request bodies are copied once, out of gnet's inbound buffer, into
// buffers pooled by power-of-two size class. Pools keep only classes up to
// maxPooledShift: a rare 16 MiB body must not stay pinned in a pool
// (bytebufferpool handed back a 32 MiB buffer here; DESIGN §7).
const (
	// minPooledShift (512 B) holds a typical small request.
	minPooledShift = 9
	// maxPooledShift (1 MiB): larger buffers are allocated and dropped.
	maxPooledShift = 20
)

var bufPools [maxPooledShift - minPooledShift + 1]sync.Pool

// getBuf returns a buffer of length 0 and capacity at least n. Return it
// with putBuf when done.
func getBuf(n int) *[]byte {
	shift := minPooledShift
	if n > 1<<minPooledShift {
		shift = bits.Len(uint(n - 1)) // ceil(log2 n)
	}
	if shift > maxPooledShift {
		b := make([]byte, 0, n)
		return &b
	}
	if p, ok := bufPools[shift-minPooledShift].Get().(*[]byte); ok {
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, 1<<shift)
	return &b
}

// putBuf returns b to the pool of the largest class its capacity covers,
// so a buffer that grew by append is still reused correctly; buffers over
// the largest class are dropped.
func putBuf(b *[]byte) {
	if b == nil {
		return
	}
	c := cap(*b)
	if c < 1<<minPooledShift {
		return
	}
	shift := bits.Len(uint(c)) - 1 // floor(log2 c)
	if shift > maxPooledShift {
		return
	}
	bufPools[shift-minPooledShift].Put(b)
}
