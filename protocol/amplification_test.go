package protocol

import (
	"testing"
	"time"
)

// TestHugeCountTinyBody: a body that claims 65535 items but holds none must
// be refused in time proportional to its length, not to its claim. Before
// decoders stopped at the first error, each such 20-byte body cost 65535
// loop iterations (100-300 µs), a cheap way to burn a server's CPU.
func TestHugeCountTinyBody(t *testing.T) {
	claim := []byte{0xFF, 0xFF}
	bodies := []struct {
		name   string
		decode func() error
	}{
		{"MPUT", func() error { _, e := DecodeMPut(append(make([]byte, optionsSize), claim...)); return e }},
		{"MGET", func() error { _, e := DecodeMGet(append(make([]byte, optionsSize), claim...)); return e }},
		{"batch reply", func() error { _, e := DecodeBatchReply(OpMGet, claim); return e }},
		{"RBATCH", func() error { _, e := DecodeReplicaBatch(append(make([]byte, ReplicaHeaderSize), claim...)); return e }},
		{"RBATCH reply", func() error { _, e := DecodeReplicaBatchReply(append(make([]byte, 16), claim...)); return e }},
		{"RSCAN reply", func() error { _, e := DecodeScanReply(append(make([]byte, 17), claim...)); return e }},
	}
	const rounds = 200 // 1200 decodes: ~0.1 ms when bounded, >100 ms when not
	best := time.Hour
	for range 3 { // the best of three shrugs off a descheduled run
		start := time.Now()
		for range rounds {
			for _, b := range bodies {
				if b.decode() == nil {
					t.Fatalf("%s with 65535 claimed items and none present decoded", b.name)
				}
			}
		}
		best = min(best, time.Since(start))
	}
	if best > 25*time.Millisecond {
		t.Fatalf("%d refusals of 65535-item claims took %v: decoders iterate past the first error", rounds*len(bodies), best)
	}
	t.Logf("%d refusals in %v", rounds*len(bodies), best)
}
