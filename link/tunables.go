package link

import (
	"crypto/tls"
	"time"

	"github.com/distridata/distridata/protocol"
)

// Tunables are the settings of a running Pool that SetTunables may
// change. Each is read where it is used (TLS, token and timeout at each
// dial, the backoff at each wait, the ejection count at each failure,
// the seal options at each send), so a change applies to what starts
// afterwards: connections already made keep the material they were
// made with. ConnsPerNode, QueueLen, MaxInFlight, MaxInFlightBytes and
// Limits size what each node's link built at start (its connection
// slots, queues and window), so they stay as started. A snapshot is
// immutable and sits behind Pool.tun.
type Tunables struct {
	DialTimeout            time.Duration
	BackoffMin, BackoffMax time.Duration
	EjectAfter             int
	Token                  string
	Seal                   protocol.SealOptions
	// TLS is the client config of later dials (Config.TLS). Whether
	// links use TLS at all is fixed by New: a nil here, or a non-nil for
	// a pool made without TLS, is refused.
	TLS *tls.Config
}

// Tunables returns c's live settings.
func (c Config) Tunables() Tunables {
	return Tunables{DialTimeout: c.DialTimeout, BackoffMin: c.BackoffMin, BackoffMax: c.BackoffMax,
		EjectAfter: c.EjectAfter, Token: c.Token, Seal: c.Seal, TLS: c.TLS}
}

// withTunables returns c with t's settings.
func (c Config) withTunables(t Tunables) Config {
	c.DialTimeout, c.BackoffMin, c.BackoffMax = t.DialTimeout, t.BackoffMin, t.BackoffMax
	c.EjectAfter, c.Token, c.Seal, c.TLS = t.EjectAfter, t.Token, t.Seal, t.TLS
	return c
}

// SetTunables makes t the settings of later dials, waits, failures and
// sends. It refuses t, keeping the running settings, if t is invalid
// with the rest of the config or would turn TLS on or off. Any
// goroutine.
func (p *Pool) SetTunables(t Tunables) error {
	if (t.TLS == nil) != (p.cfg.TLS == nil) {
		return ErrTLSSwitch
	}
	if err := p.cfg.withTunables(t).Validate(); err != nil {
		return err
	}
	p.tun.Store(&t)
	return nil
}

// tunables is the current snapshot.
func (p *Pool) tunables() *Tunables { return p.tun.Load() }
