package link

import "crypto/tls"

// Tunables are the settings of a running Pool that SetTunables may
// change. Each is read where it is used (TLS at each dial), so a change
// applies to what starts afterwards: connections already made keep the
// material they were made with. A snapshot is immutable and sits behind
// Pool.tun.
type Tunables struct {
	// TLS is the client config of later dials (Config.TLS). Whether
	// links use TLS at all is fixed by New: a nil here, or a non-nil for
	// a pool made without TLS, is refused.
	TLS *tls.Config
}

// Tunables returns c's live settings.
func (c Config) Tunables() Tunables {
	return Tunables{TLS: c.TLS}
}

// SetTunables makes t the settings of later dials. It refuses t, keeping
// the running settings, if it would turn TLS on or off. Any goroutine.
func (p *Pool) SetTunables(t Tunables) error {
	if (t.TLS == nil) != (p.cfg.TLS == nil) {
		return ErrTLSSwitch
	}
	p.tun.Store(&t)
	return nil
}

// tunables is the current snapshot.
func (p *Pool) tunables() *Tunables { return p.tun.Load() }
