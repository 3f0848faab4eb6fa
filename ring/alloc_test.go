package ring

import "testing"

// TestLookupDoesNotAllocate is the allocation budget of the hot path.
func TestLookupDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := mustNew(t, Config{Partitions: 1 << 10}, equalNodes(10, 0))
	key := []byte("user:12345")
	dst := make([]uint16, 0, 8)
	var sink uint16
	allocs := testing.AllocsPerRun(1000, func() {
		_, owners := r.Lookup(key)
		sink += owners[0]
		sink += r.Owners(r.Partition(key))[1]
		dst = r.Preference(3, dst[:0], 5)
	})
	if allocs != 0 {
		t.Fatalf("Lookup/Owners/Preference allocate %v times per run", allocs)
	}
}
