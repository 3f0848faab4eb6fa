package ring

import (
	"fmt"
	"strconv"
	"testing"
)

// BenchmarkLookup measures a 3-replica lookup including the key hash.
func BenchmarkLookup(b *testing.B) {
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = []byte("user:" + strconv.Itoa(i*7919))
	}
	for _, n := range []int{10, 100, 1000} {
		r := mustNew(b, Config{}, equalNodes(n, 0))
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var sink uint16
			i := 0
			for b.Loop() {
				_, owners := r.Lookup(keys[i&1023])
				sink += owners[0]
				i++
			}
			_ = sink
		})
	}
}

// BenchmarkBuild measures New for 1000 nodes at P=2^20.
func BenchmarkBuild(b *testing.B) {
	nodes := equalNodes(1000, 0)
	cfg := Config{Partitions: 1 << 20}
	b.ReportAllocs()
	for b.Loop() {
		mustNew(b, cfg, nodes)
	}
}

// BenchmarkRendezvous measures the rendezvous step alone (1000 nodes, 2^16 rows).
func BenchmarkRendezvous(b *testing.B) {
	m, _ := newMembers(equalNodes(1000, 0), 16)
	for b.Loop() {
		rendezvous(m, 1<<16, 3)
	}
}

// BenchmarkWithNode measures an incremental add to 1000 nodes at P=2^20.
func BenchmarkWithNode(b *testing.B) {
	r := mustNew(b, Config{Partitions: 1 << 20}, equalNodes(1000, 0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.WithNode(Node{ID: "new", Weight: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWithoutNode measures an incremental removal from 1000 nodes at P=2^20.
func BenchmarkWithoutNode(b *testing.B) {
	r := mustNew(b, Config{Partitions: 1 << 20}, equalNodes(1000, 0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.WithoutNode("n0500"); err != nil {
			b.Fatal(err)
		}
	}
}
