package daemon

import (
	"fmt"

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
