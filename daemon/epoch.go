package daemon

import (
	"context"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/repair"
	"github.com/distridata/distridata/ring"
)

// At start a daemon must route by the ring the storage nodes have
// committed, or they refuse its requests (WRONG_EPOCH), and must finish a
// ring change it was making when it stopped. It seeds its ring the way it
// seeds its clock: from its saved state (the hints DB: the committed ring
// and a move in progress) and from what the nodes say they committed.

// nodesRing asks every node that is up which ring it has committed (an
// REPOCH with epoch 0 changes nothing and is answered with the node's
// epoch and ring fingerprint) and returns the highest epoch and its ring.
func (d *Daemon) nodesRing() (epoch, hash uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.SeedTimeout)
	defer cancel()
	for _, s := range d.pool.Stats() {
		if !s.Up || s.Conns == 0 {
			continue
		}
		rep, err := d.pool.CommitEpoch(ctx, s.ID, protocol.EpochCommit{})
		if err != nil && protocol.StatusOf(err) != protocol.StatusWrongEpoch {
			d.log.Warn("cannot ask a storage node for its ring epoch", "node", s.ID, "err", err)
			continue
		}
		if rep.Epoch > epoch {
			epoch, hash = rep.Epoch, rep.Ring
		}
	}
	return epoch, hash
}

// startRing picks the ring to serve from: the saved committed ring, else
// cfgRing (the config's membership at epoch 1), moved up to the nodes'
// committed ring when this daemon can rebuild that ring (the saved move's
// target, or the config's membership at the nodes' epoch). resume is a
// saved move still to finish; nodesAt says the nodes already committed it.
func (d *Daemon) startRing(cfgRing *ring.Ring, saved repair.SavedState) (cur, resume *ring.Ring, nodesAt bool) {
	cur, resume = saved.Ring0(cfgRing), saved.Move
	if resume != nil && resume.Epoch() <= cur.Epoch() {
		resume = nil // a stale record: the ring it aimed at is committed
	}
	ne, nh := d.nodesRing()
	switch {
	case ne <= cur.Epoch():
	case resume != nil && resume.Epoch() == ne && resume.Hash() == nh:
		nodesAt = true // the daemon stopped between the nodes' commit and its own record
	default:
		if cand := rebuildAny(cur.Config(), d.cfg.Nodes, ne, nh); cand != nil {
			d.log.Info("serving the ring the storage nodes committed (the config's membership at their epoch)", "epoch", ne)
			return cand, nil, false
		}
		d.log.Error("the storage nodes committed a ring this daemon cannot rebuild from its config: they will refuse its requests (WRONG_EPOCH) until it is reloaded with the current membership",
			"epoch", cur.Epoch(), "nodes_epoch", ne, "nodes_ring", nh)
	}
	if resume == nil && saved.Ring != nil && !sameMembers(cur.Nodes(), d.cfg.Nodes) {
		d.log.Warn("the config's membership differs from the committed ring; serving the committed ring (send SIGHUP to move to the config's)",
			"epoch", cur.Epoch())
	}
	return cur, resume, nodesAt
}

// rebuildAny builds nodes at epoch under each placement rule, cfg's first,
// and returns the ring whose fingerprint is hash, or nil: the nodes may
// have committed it under an earlier release's rule.
func rebuildAny(cfg ring.Config, nodes []ring.Node, epoch, hash uint64) *ring.Ring {
	for _, rule := range []ring.Rule{cfg.Rule, ring.RuleLatest, ring.RuleProportional} {
		c := cfg
		c.Rule = rule
		if r, err := ring.New(c, nodes, epoch); err == nil && r.Hash() == hash {
			return r
		}
	}
	return nil
}

// placementMove deals with a change of placement rule between releases.
// The data sits where the table of the ring the daemon last served put it:
// the committed ring (saved with its table once a ring change commits) or,
// before any, the initial ring saved at each start. When this release
// computes another table for that membership, placementMove serves the
// saved table (cur) and returns the move to this release's table at the
// next epoch, run like a membership change; otherwise it saves cur as the
// initial ring if none is committed, and returns cur and nil. cur may also
// be built by an earlier rule: the ring the nodes committed under an
// earlier release (startRing), or the config's `ring.rule` when no ring was
// ever committed. Without a data directory nothing is saved: only those
// two cases are recognised, and the move does not survive a restart.
//
// built is the ring Start built from its config: where cur places like it
// under the latest rule, nothing is rebuilt to tell (a build takes seconds
// at 1000 nodes and 2^20 partitions).
func (d *Daemon) placementMove(cur, built *ring.Ring, saved repair.SavedState) (*ring.Ring, *ring.Ring) {
	st := d.repair.ringState()
	if st != nil && saved.Ring == nil {
		if old := saved.InitialRing(cur.Config(), cur.Nodes(), built); old != nil && old.Epoch() == cur.Epoch() {
			cur = old
		}
	}
	latest := built.Config().Rule == ring.RuleLatest && repair.SamePlacement(cur, built)
	if latest || !repair.PlacementChanged(cur) {
		if st != nil && saved.Ring == nil {
			if err := st.SaveInitial(cur); err != nil {
				d.log.Warn("cannot save the initial ring; a release with another placement rule could not find this one's table", "err", err)
			}
		}
		return cur, nil
	}
	next, err := ring.New(cur.Config().Latest(), cur.Nodes(), cur.Epoch()+1)
	if err != nil {
		return cur, nil // cur's membership built before; cannot happen
	}
	d.log.Warn("this release places the ring's membership differently: serving the saved table and moving the data to the new placement",
		"epoch", cur.Epoch(), "next_epoch", next.Epoch(), "partitions_moving", len(ring.Diff(cur, next)))
	return cur, next
}

// pendResume makes writes reach the owners a saved move adds before the
// daemon serves its first request. The resumed move skips the partitions
// the state marks copied, which is right only if no write since has gone
// to the old owners alone: one acknowledged that way would be missing on
// the new owners at commit, and lost when the old owners' copies are
// dropped. If the plan cannot be set, the saved move is abandoned (its
// marks forgotten, so a later reload copies every partition) and nil
// returned.
func (d *Daemon) pendResume(next *ring.Ring) *ring.Ring {
	cur := d.coord.Ring()
	d.pool.SetNodes(unionAddrs(cur, next))
	if err := d.coord.SetPending(d.reloadCtx, next); err != nil {
		d.log.Error("cannot resume the ring change saved before the restart; abandoned, a reload starts it afresh",
			"epoch", cur.Epoch(), "next_epoch", next.Epoch(), "err", err)
		d.repair.reb.Cancel()
		d.pool.SetNodes(nodeAddrs(cur.Nodes()))
		return nil
	}
	return next
}

// resumeMove finishes a saved move in the background, as a reload
// would, under reloadMu; Shutdown cancels and waits for it. (When the
// nodes have already committed its ring, Start calls finishResume itself
// before serving: every partition is copied, so it is quick.)
func (d *Daemon) resumeMove(next *ring.Ring) {
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		d.finishResume(next)
	}()
}

func (d *Daemon) finishResume(next *ring.Ring) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.reloadCtx.Err() != nil {
		return
	}
	cur := d.coord.Ring()
	d.log.Info("resuming the ring change saved before the restart", "epoch", cur.Epoch(), "next_epoch", next.Epoch())
	start := time.Now()
	rep, err := d.Move(d.reloadCtx, next)
	if err != nil {
		d.repair.reb.Cancel()
		d.pool.SetNodes(nodeAddrs(cur.Nodes()))
		d.ReloadFailed(err)
		return
	}
	d.log.Info("resumed ring change committed", "epoch", next.Epoch(), "partitions_moved", rep.Partitions,
		"keys", rep.Keys, "took", time.Since(start))
}
