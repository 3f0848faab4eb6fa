package bench

import (
	"testing"

	"github.com/distridata/distridata/protocol"
)

// The per-request path (encode a request, decode its reply) must not
// allocate: at hundreds of thousands of requests per second on one core,
// garbage would make the generator the bottleneck it is meant to measure.
func TestHotPathDoesNotAllocate(t *testing.T) {
	cfg := DefaultConfig()
	key, value := appendKey(nil, 12345), make([]byte, cfg.ValueSize)
	for name, tc := range map[string]struct {
		c     codec
		reply []byte
	}{
		"distridata": {newFrameCodec(&cfg, nil), protocol.AppendWriteReply(nil, protocol.OpPut, 9, protocol.StatusOK, protocol.Version{})},
		"node": {newFrameCodec(&Config{Target: TargetNode, Partitions: 1 << 16}, protocol.NewClock(nil)),
			protocol.AppendReplicaReply(nil, protocol.OpReplicaPut, 9, protocol.ReplicaStamp{}, protocol.Result{})},
		"redis": {newRESPCodec(&cfg), []byte("+OK\r\n")},
	} {
		buf := make([]byte, 0, 4096)
		n := testing.AllocsPerRun(1000, func() {
			buf = tc.c.appendRequest(buf[:0], 9, opSet, key, value)
			buf = tc.c.appendRequest(buf, 10, opGet, key, nil)
			if _, _, err := tc.c.parseReply(tc.reply); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per request and reply", name, n)
		}
	}
}

func TestRESPBulkReplyParses(t *testing.T) {
	c := newRESPCodec(&Config{ValueSize: 3})
	for in, want := range map[string]struct {
		n    int
		name string
	}{
		"$3\r\nabc\r\n+OK": {9, "OK"}, "$-1\r\n": {5, "NOT_FOUND"}, "-READONLY You can't\r\n": {21, "RESP_READONLY"},
		":1\r\n": {4, "OK"}, "$3\r\nab": {0, ""}, "+O": {0, ""},
	} {
		n, r, err := c.parseReply([]byte(in))
		if err != nil || n != want.n || (n > 0 && r.name() != want.name) {
			t.Errorf("parseReply(%q) = %d, %q, %v; want %d, %q", in, n, r.name(), err, want.n, want.name)
		}
	}
	if _, _, err := c.parseReply([]byte("*2\r\n")); err == nil {
		t.Error("an array reply to SET/GET must be a bad reply")
	}
}
