package daemon

import (
	"fmt"
	"log/slog"

	"github.com/distridata/distridata/ring"
)

// Check validates everything Start would, without starting anything: the
// front end's fields, the ring built from Nodes, and the replica, link
// and repair configs. It returns an ErrConfig naming the first problem.
// `distridata config check` and Reload use it.
func (c Config) Check() error {
	if err := c.Validate(); err != nil {
		return err
	}
	c = c.withDefaults()
	if _, err := buildRing(c, ringEpoch); err != nil {
		return err
	}
	rep := c.Replica
	rep.Origin = c.ID
	if err := rep.Validate(); err != nil {
		return fmt.Errorf("%w: replica: %w", ErrConfig, err)
	}
	lcfg := c.Link
	if err := lcfg.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	rc := c.Repair
	if rc.WriteQuorum = c.Replica.W; rc.Logger == nil {
		rc.Logger = c.Logger
	}
	if err := rc.Validate(); err != nil {
		return fmt.Errorf("%w: repair: %w", ErrConfig, err)
	}
	return nil
}

// RingAdvice builds the ring c describes and returns what an operator
// should know about its placement (ring.Ring.Advice): too few partitions
// for the node count, fewer zones than replicas, balance limits not met.
func (c Config) RingAdvice() ([]string, error) {
	r, err := buildRing(c.withDefaults(), 1)
	if err != nil {
		return nil, err
	}
	return r.Advice(), nil
}

// logRing reports a ring's placement once, when the daemon starts using it.
func logRing(log *slog.Logger, r *ring.Ring) {
	s := r.Stats()
	log.Info("ring", "epoch", r.Epoch(), "nodes", s.Nodes, "zones", s.Zones, "partitions", r.Partitions(),
		"replicas", r.Replicas(), "peak_to_fair", fmt.Sprintf("%.4f", s.PeakToFair), "zone_distinct", s.ZoneDistinct)
	for _, a := range r.Advice() {
		log.Warn("ring: " + a)
	}
}

// buildRing is the ring of c's membership at epoch, with N replicas.
func buildRing(c Config, epoch uint64) (*ring.Ring, error) {
	rcfg := c.Ring
	rcfg.Replicas = c.Replica.N
	r, err := ring.New(rcfg, c.Nodes, epoch)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return r, nil
}
