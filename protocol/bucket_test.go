package protocol

import (
	"fmt"
	"testing"
)

// A bucket's children partition it: every hash in b falls in exactly one
// child, the one ChildIndex names, and no hash outside b falls in any.
func TestBucketChildren(t *testing.T) {
	hashes := []uint64{0, 1, 1 << 63, ^uint64(0), 0x0123456789abcdef, 0xfedcba9876543210}
	for i := range 200 {
		hashes = append(hashes, KeyHash(fmt.Appendf(nil, "key-%d", i)))
	}
	for _, b := range []Bucket{{}, {Prefix: 1, Bits: 1}, {Prefix: 0x2a, Bits: 7}, {Prefix: 1<<60 - 1, Bits: 60}} {
		for _, split := range []uint8{1, 4} {
			for _, h := range hashes {
				in := 0
				for i := range 1 << split {
					if b.Child(i, split).Contains(h) {
						in++
						if !b.Contains(h) || b.ChildIndex(h, split) != i {
							t.Fatalf("%+v split %d: hash %x in child %d, Contains %v, ChildIndex %d", b, split, h, i, b.Contains(h), b.ChildIndex(h, split))
						}
					}
				}
				if want := map[bool]int{true: 1, false: 0}[b.Contains(h)]; in != want {
					t.Fatalf("%+v split %d: hash %x in %d children, want %d", b, split, h, in, want)
				}
			}
		}
	}
}

func TestBucketBounds(t *testing.T) {
	tests := []struct {
		b     Bucket
		valid bool
	}{
		{Bucket{}, true},
		{Bucket{Prefix: 1}, false},
		{Bucket{Prefix: 1, Bits: 1}, true},
		{Bucket{Prefix: 2, Bits: 1}, false},
		{Bucket{Prefix: ^uint64(0), Bits: 64}, true},
		{Bucket{Bits: 65}, false},
	}
	for _, tc := range tests {
		if tc.b.Valid() != tc.valid {
			t.Errorf("%+v.Valid() = %v", tc.b, !tc.valid)
		}
	}
	if !(Bucket{Prefix: ^uint64(0), Bits: 64}).Contains(^uint64(0)) || (Bucket{Prefix: 1, Bits: 64}).Contains(0) {
		t.Fatal("a 64-bit bucket must contain exactly its own hash")
	}
}
