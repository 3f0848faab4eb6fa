package daemon

import (
	"bytes"
	"context"
	"fmt"

	"github.com/distridata/distridata/link"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/repair"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/ring"
)

// repairs are the daemon's hinted handoff (when Config.Repair.Dir is set),
// background anti-entropy and rebalancer (package repair). The hints store
// opens before the coordinator, whose OnMiss feeds it; the rest starts
// once the coordinator exists. close stops everything it started.
type repairs struct {
	cfg   repair.Config
	hints *repair.Hints // nil without Repair.Dir
	ae    *repair.AntiEntropy
	reb   *repair.Rebalancer
}

// openRepairs validates the repair config and opens the hints store.
func openRepairs(cfg Config, pool *link.Pool) (*repairs, error) {
	rc := cfg.Repair
	if rc == (repair.Config{}) { // a Config built without DefaultConfig
		rc = repair.DefaultConfig()
	}
	rc.WriteQuorum = cfg.Replica.W
	rc.Logger = cfg.Logger.With("component", "repair")
	r := &repairs{cfg: rc}
	if rc.Dir == "" {
		if err := rc.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		return r, nil
	}
	h, err := repair.OpenHints(rc, pool)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	r.hints = h
	return r, nil
}

// onMiss is the coordinator's OnMiss hook: nil (no hints) without a Dir.
func (r *repairs) onMiss() func(string, protocol.Item) {
	if r.hints == nil {
		return nil
	}
	return r.hints.Add
}

// start starts hint replay, background anti-entropy and the rebalancer's
// drop loop over coord's ring; saved is the ring state Start loaded.
func (r *repairs) start(pool *link.Pool, coord *replica.Coordinator, saved repair.SavedState) error {
	var err error
	if r.ae, err = repair.NewAntiEntropy(r.cfg, pool, coord.Ring); err != nil {
		return err
	}
	if r.reb, err = repair.NewRebalancer(r.cfg, pool, coord); err != nil {
		return err
	}
	if r.hints != nil {
		r.reb.UseState(r.hints.RingState(), saved)
		r.hints.Start(coord.Ring)
	}
	r.ae.Start()
	r.reb.Start()
	return nil
}

// setTunables gives t to every running repair component.
func (r *repairs) setTunables(t repair.Tunables) error {
	if r.hints != nil {
		if err := r.hints.SetTunables(t); err != nil {
			return err
		}
	}
	if r.ae != nil {
		if err := r.ae.SetTunables(t); err != nil {
			return err
		}
	}
	if r.reb != nil {
		return r.reb.SetTunables(t)
	}
	return nil
}

// loadState reads the saved ring state (none without hints).
func (r *repairs) loadState(cfg ring.Config) (repair.SavedState, error) {
	if r.hints == nil {
		return repair.SavedState{}, nil
	}
	return r.hints.RingState().Load(cfg)
}

// ringState is the saved ring state, nil without hints (no data dir).
func (r *repairs) ringState() *repair.RingState {
	if r.hints == nil {
		return nil
	}
	return r.hints.RingState()
}

// close stops anti-entropy, the drop loop and the hints store (which
// persists the hints still queued). Call after the coordinator closed,
// before the links.
func (r *repairs) close() {
	if r.ae != nil {
		r.ae.Close()
	}
	if r.reb != nil {
		r.reb.Close()
	}
	if r.hints != nil {
		if err := r.hints.Close(); err != nil {
			r.cfg.Logger.Error("repair: cannot close hints store", "err", err)
		}
	}
}

// appendStats adds the repair counters to a STATS reply.
func (r *repairs) appendStats(b *bytes.Buffer) {
	if r.hints != nil {
		s := r.hints.Stats()
		for _, kv := range []struct {
			name string
			v    uint64
		}{
			{"hints_stored", s.Stored}, {"hints_replaced", s.Replaced}, {"hints_replayed", s.Replayed},
			{"hints_dropped_age", s.DroppedAge}, {"hints_dropped_size", s.DroppedSize},
			{"hints_dropped_queue", s.DroppedQueue}, {"hints_failures", s.Failures},
		} {
			line(b, kv.name, kv.v)
		}
		line(b, "hints_bytes", s.Bytes)
		for id, n := range s.Pending {
			line(b, "hints_pending_"+id, int64(n))
		}
	}
	if r.ae != nil {
		s := r.ae.Stats()
		line(b, "antientropy_checked", s.Checked)
		line(b, "antientropy_mismatched", s.Mismatched)
		line(b, "antientropy_keys", s.Keys)
		line(b, "antientropy_bytes", s.Bytes)
		line(b, "antientropy_failures", s.Failures)
		line(b, "antientropy_buckets", s.Buckets)
		line(b, "antientropy_scanned", s.Scanned)
		line(b, "antientropy_peak_step_keys", s.PeakStepKeys)
	}
	if r.reb != nil {
		s := r.reb.Stats()
		for _, kv := range []struct {
			name string
			v    uint64
		}{
			{"rebalance_moves", s.Moves}, {"rebalance_partitions", s.Partitions},
			{"rebalance_keys", s.Keys}, {"rebalance_bytes", s.Bytes}, {"rebalance_resumed", s.Resumed},
			{"epoch_commits", s.Fenced}, {"epoch_commit_failures", s.FenceFailures},
			{"drops_pending", s.DropsPending}, {"drops_done", s.Dropped}, {"drops_keys", s.DroppedKeys},
			{"drops_refused", s.DropRefused}, {"drops_failures", s.DropFailures},
		} {
			line(b, kv.name, kv.v)
		}
	}
}

// Hints returns the hinted-handoff store, or nil when Repair.Dir is empty.
func (d *Daemon) Hints() *repair.Hints { return d.repair.hints }

// AntiEntropy returns the anti-entropy runner (Pass runs one on demand).
func (d *Daemon) AntiEntropy() *repair.AntiEntropy { return d.repair.ae }

// Rebalancer returns the rebalancer: a membership reload adds the new
// nodes to the links, then calls Rebalancer().Move(ctx, d.Ring(), next).
func (d *Daemon) Rebalancer() *repair.Rebalancer { return d.repair.reb }

// Move changes the membership to next's, whose epoch should be above the
// current ring's: it links next's nodes, copies the moving partitions
// while writes reach both owner sets, commits next, and unlinks the nodes
// next dropped. On error the old ring keeps serving with dual writes in
// place; call Move again to resume. The moved partitions are dropped from
// their old owners after Repair.DropGrace (see RELIABILITY.md, "Repair
// and membership change").
func (d *Daemon) Move(ctx context.Context, next *ring.Ring) (repair.MoveReport, error) {
	old := d.coord.Ring()
	d.pool.SetNodes(unionAddrs(old, next))
	rep, err := d.repair.reb.Move(ctx, old, next)
	if err != nil {
		return rep, err
	}
	d.pool.SetNodes(nodeAddrs(next.Nodes()))
	return rep, nil
}

// unionAddrs is the addresses of both rings' nodes (b's win).
func unionAddrs(a, b *ring.Ring) map[string]string {
	addrs := nodeAddrs(a.Nodes())
	for id, addr := range nodeAddrs(b.Nodes()) {
		addrs[id] = addr
	}
	return addrs
}

func nodeAddrs(nodes []ring.Node) map[string]string {
	m := make(map[string]string, len(nodes))
	for _, n := range nodes {
		m[n.ID] = n.Addr
	}
	return m
}
