package storage

import (
	"math/bits"
	"sync"
)

// Request bodies are copied once out of the connection's read buffer into
// a pooled buffer, which goes back to the pool after the reply is queued.
// Buffers are pooled by power-of-two size class; bodies above the largest
// class are allocated exactly and left to the GC, so a burst of huge
// frames never pins memory in the pool.
const (
	minBufClass = 9  // 512 B: a typical replica op with a small value
	maxBufClass = 20 // 1 MiB: the largest buffer worth keeping around
)

var bufPools [maxBufClass + 1]sync.Pool

// getBuf returns a buffer of length n.
func getBuf(n int) *[]byte {
	c := bufClass(n)
	if c > maxBufClass {
		b := make([]byte, n)
		return &b
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, 1<<c)
	return &b
}

// putBuf returns b to its pool; nil and oversize buffers are dropped.
func putBuf(b *[]byte) {
	if b == nil {
		return
	}
	c := bufClass(cap(*b))
	if cap(*b) != 1<<c || c > maxBufClass {
		return
	}
	bufPools[c].Put(b)
}

// bufClass is the smallest class whose buffers hold n bytes.
func bufClass(n int) int {
	if n <= 1<<minBufClass {
		return minBufClass
	}
	return bits.Len(uint(n - 1))
}
