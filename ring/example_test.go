package ring_test

import (
	"fmt"
	"sync/atomic"

	"github.com/distridata/distridata/ring"
)

// Example shows the intended life cycle: parse a membership, build a ring,
// publish it through an atomic.Pointer, look keys up, and swap in a changed
// ring (epoch+1) while readers keep using whichever snapshot they loaded.
func Example() {
	nodes, err := ring.ParseMembership(`
n1 10.0.0.1:7000 zone=a
n2 10.0.0.2:7000 zone=b
n3 10.0.0.3:7000 zone=c
n4 10.0.0.4:7000 zone=a weight=2
`)
	if err != nil {
		panic(err)
	}
	r, err := ring.New(ring.Config{Partitions: 1024}, nodes, 1)
	if err != nil {
		panic(err)
	}
	var current atomic.Pointer[ring.Ring]
	current.Store(r)

	snap := current.Load()
	p, owners := snap.Lookup([]byte("user:42"))
	fmt.Println("replicas:", len(owners), "partition in range:", int(p) < snap.Partitions())

	next, err := snap.WithNode(ring.Node{ID: "n5", Addr: "10.0.0.5:7000", Zone: "b", Weight: 1})
	if err != nil {
		panic(err)
	}
	current.Store(next)
	fmt.Println("epoch:", current.Load().Epoch(), "partitions moved:", len(ring.Diff(snap, next)) > 0)
	// Output:
	// replicas: 3 partition in range: true
	// epoch: 2 partitions moved: true
}
