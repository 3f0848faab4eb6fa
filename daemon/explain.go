package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// Explanation is where a key lives and what each of its owners holds,
// read straight from the owners (no quorum, no repair), so a divergent
// replica shows at a glance.
type Explanation struct {
	Key       string         `json:"key"`
	Partition uint32         `json:"partition"`
	Epoch     uint64         `json:"epoch"`
	Owners    []OwnerReplica `json:"owners"` // most preferred first
}

// OwnerReplica is one owner of a key and its copy.
type OwnerReplica struct {
	ID        string `json:"id"`
	Addr      string `json:"addr"`
	Zone      string `json:"zone"`
	Up        bool   `json:"up"`                  // as the links believe
	Status    string `json:"status"`              // the RGET's answer: OK, NOT_FOUND, TIMEOUT, ...
	TS        uint64 `json:"ts,omitempty"`        // the stored version's HLC timestamp
	Origin    uint32 `json:"origin,omitempty"`    // the daemon that assigned it
	Written   string `json:"written,omitempty"`   // the version's wall time, RFC 3339
	Tombstone bool   `json:"tombstone,omitempty"` // the stored version is a delete
	ValueSize int    `json:"value_size"`          // bytes of the stored value
	Error     string `json:"error,omitempty"`     // why the owner gave no answer
}

// Explain looks key up in the current ring and asks each of its owners,
// concurrently and within ctx, which version it holds.
func (d *Daemon) Explain(ctx context.Context, key []byte) (Explanation, error) {
	if err := d.fe.tun.Load().limits.CheckKey(key); err != nil {
		return Explanation{}, fmt.Errorf("cannot explain key: %w", err)
	}
	r := d.coord.Ring()
	p, owners := r.Lookup(key)
	ex := Explanation{Key: string(key), Partition: p, Epoch: r.Epoch(), Owners: make([]OwnerReplica, len(owners))}
	h := protocol.ReplicaHeader{Epoch: r.Epoch(), Ring: r.Hash()}
	var wg sync.WaitGroup
	for i, o := range owners {
		n := r.Node(o)
		ex.Owners[i] = OwnerReplica{ID: n.ID, Addr: n.Addr, Zone: n.Zone, Up: d.pool.Up(n.ID)}
		items := []protocol.Item{{Kind: protocol.ItemGet, Partition: p, Key: key}}
		wg.Add(1)
		// Send calls done exactly once, by ctx at the latest.
		d.pool.Send(ctx, n.ID, h, items, func(rep replica.Reply) {
			defer wg.Done()
			ex.Owners[i].fill(rep)
		})
	}
	wg.Wait()
	return ex, nil
}

func (o *OwnerReplica) fill(rep replica.Reply) {
	switch {
	case rep.Err != nil:
		o.Status, o.Error = protocol.StatusOf(rep.Err).String(), rep.Err.Error()
		return
	case len(rep.Results) != 1:
		o.Status, o.Error = protocol.StatusInternal.String(), fmt.Sprintf("%d results for one item", len(rep.Results))
		return
	}
	res := rep.Results[0]
	o.Status = res.Status.String()
	if !res.Version.IsZero() {
		o.TS, o.Origin = res.Version.TS, res.Version.Origin
		o.Written = res.Version.WallTime().UTC().Format(time.RFC3339Nano)
	}
	o.Tombstone = res.Flags&protocol.ResultTombstone != 0
	o.ValueSize = len(res.Value)
}
