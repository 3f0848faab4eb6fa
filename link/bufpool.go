package link

import "sync"

// bufClasses are the capacities of pooled buffers for sealed frames. Size
// classes keep one huge frame from pinning a huge buffer for a small one,
// and buffers larger than the last class are never pooled (DESIGN §7).
var bufClasses = [...]int{8 << 10, 64 << 10, 512 << 10, 4 << 20, 20 << 20}

var bufPools [len(bufClasses)]sync.Pool

// getBuf returns an empty buffer with capacity for at least n bytes.
func getBuf(n int) *[]byte {
	for i, c := range bufClasses {
		if n <= c {
			if b, ok := bufPools[i].Get().(*[]byte); ok {
				return b
			}
			b := make([]byte, 0, c)
			return &b
		}
	}
	b := make([]byte, 0, n)
	return &b
}

// putBuf pools b if its capacity is exactly a class (append may have grown
// it past the class it came from).
func putBuf(b *[]byte) {
	for i, c := range bufClasses {
		if cap(*b) == c {
			*b = (*b)[:0]
			bufPools[i].Put(b)
			return
		}
	}
}
