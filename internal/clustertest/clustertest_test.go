package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/storage"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// gnet's process-wide worker pool (ants) lives for the process.
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
	)
}

// The harness itself: a write reaches every owner (seen by NodeGet), a
// killed node refuses connections, and a restarted pebble node comes back
// on its old address with its data.
func TestHarnessKillRestartNodeGet(t *testing.T) {
	cl := Start(t, Options{Engine: storage.EnginePebble, Token: "tok"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := cl.Client().Put(ctx, []byte("k"), []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	owners := cl.Owners([]byte("k"))
	if len(owners) != 3 {
		t.Fatalf("%d owners", len(owners))
	}
	n := owners[0]
	var res protocol.Result
	for range 200 { // the third owner may ack after the client's answer
		if res, err = cl.NodeGet(n, []byte("k")); err == nil && res.Version == v {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res.Version != v || string(res.Value) != "v" {
		t.Fatalf("node %s holds %v %q (%v)", n.ID, res.Version, res.Value, err)
	}
	cl.Kill(n)
	if _, err := cl.NodeGet(n, []byte("k")); err == nil {
		t.Fatal("a killed node answered")
	}
	cl.Restart(n)
	if res, err := cl.NodeGet(n, []byte("k")); err != nil || res.Version != v {
		t.Fatalf("restarted node: %v %v", res.Version, err)
	}
	if got := cl.String(); got == "" {
		t.Fatal("empty description")
	}
}

// NodeGetMany pipelines in batches: more keys than one batch, some
// absent, each answered in its own slot.
func TestNodeGetMany(t *testing.T) {
	cl := Start(t, Options{})
	conn := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keys [][]byte
	for i := range getBatch + 50 {
		k := []byte(fmt.Sprintf("k%d", i))
		keys = append(keys, k)
		if i%2 == 0 {
			if _, err := conn.Put(ctx, k, k, client.WithQuorum(3)); err != nil {
				t.Fatal(err)
			}
		}
	}
	res, err := cl.NodeGetMany(cl.Nodes()[0], keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		want := protocol.StatusNotFound
		if i%2 == 0 {
			want = protocol.StatusOK
		}
		if r.Status != want || (want == protocol.StatusOK && string(r.Value) != string(keys[i])) {
			t.Fatalf("key %s: %v %q, want %v", keys[i], r.Status, r.Value, want)
		}
	}
}
