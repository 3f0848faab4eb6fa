package reliability_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/internal/systest"
)

// keysOwnedBy returns n keys (prefix/0, prefix/1, ...) whose replicas
// include every one of nodes.
func keysOwnedBy(c *systest.Cluster, prefix string, n int, nodes ...*systest.Node) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		k := fmt.Sprintf("%s/%d", prefix, i)
		owners := c.Owners([]byte(k))
		all := true
		for _, want := range nodes {
			all = all && slices.Contains(owners, want)
		}
		if all {
			keys = append(keys, k)
		}
	}
	return keys
}

// probe writes each key once, sequentially, with quorum w (0 = default)
// and deadline d, recording the outcomes.
func probe(conn *client.Conn, h *systest.History, keys []string, w int, d time.Duration) []systest.Op {
	opts := []client.CallOption{client.WithDeadline(d)}
	if w > 0 {
		opts = append(opts, client.WithQuorum(w))
	}
	var ops []systest.Op
	for _, k := range keys {
		val := systest.ValueFor(k, "probe", 0)
		op := systest.Op{Worker: 100, Kind: systest.Put, Key: k, Value: val, Call: h.Now()}
		_, err := conn.Put(context.Background(), []byte(k), []byte(val), opts...)
		op.Return = h.Now()
		op.Took = time.Duration(op.Return - op.Call)
		op.Outcome, _ = systest.Classify(err)
		if err != nil {
			op.Err = err.Error()
		}
		ops = append(ops, op)
	}
	return ops
}

// percentile of the calls' durations (p in [0, 1]).
func percentile(ops []systest.Op, p float64) time.Duration {
	if len(ops) == 0 {
		return 0
	}
	d := make([]time.Duration, len(ops))
	for i, op := range ops {
		d[i] = op.Took
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

// outcomes counts ops by outcome class.
func outcomes(ops []systest.Op) map[systest.Outcome]int {
	m := map[systest.Outcome]int{}
	for _, op := range ops {
		m[op.Outcome]++
	}
	return m
}

// pick returns k distinct nodes chosen by rng.
func pick(c *systest.Cluster, seed uint64, k int) []*systest.Node {
	rng := newRand(seed)
	nodes := slices.Clone(c.Nodes)
	rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	return nodes[:k]
}
