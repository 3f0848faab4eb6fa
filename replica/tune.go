package replica

import (
	"fmt"
	"time"
)

// Tunables are the settings of a Coordinator that may change while it
// runs (SetTunables, on a config reload). A request reads them once, when
// it starts, and keeps them to its end: W, R and Timeout of a request in
// flight never change under it. N, Origin and MaxAsyncRepairs size or
// name what is already built, so they stay fixed.
type Tunables struct {
	W, R       int           // default quorums, in [1, N]
	Timeout    time.Duration // budget of a request without a deadline, and of background repairs
	ReadRepair bool          // see Config.ReadRepair
}

// tunables returns the changeable part of c.
func (c Config) tunables() Tunables {
	return Tunables{W: c.W, R: c.R, Timeout: c.Timeout, ReadRepair: c.ReadRepair}
}

// validate checks t against n, the Coordinator's fixed N.
func (t Tunables) validate(n int) error {
	switch {
	case t.W < 1 || t.W > n:
		return fmt.Errorf("%w: W=%d must be in [1, N=%d]", ErrConfig, t.W, n)
	case t.R < 1 || t.R > n:
		return fmt.Errorf("%w: R=%d must be in [1, N=%d]", ErrConfig, t.R, n)
	case t.Timeout <= 0:
		return fmt.Errorf("%w: Timeout=%v must be positive", ErrConfig, t.Timeout)
	}
	return nil
}

// SetTunables replaces the changeable settings for requests that start
// from now on; requests in flight keep theirs. An invalid t (a quorum
// outside [1, N], a timeout that is not positive) changes nothing and is
// returned as an error wrapping ErrConfig. Any goroutine.
func (c *Coordinator) SetTunables(t Tunables) error {
	if err := t.validate(c.cfg.N); err != nil {
		return err
	}
	c.tun.Store(&t)
	return nil
}

// Tunables returns the settings in force for new requests. Any goroutine.
func (c *Coordinator) Tunables() Tunables { return *c.tun.Load() }
