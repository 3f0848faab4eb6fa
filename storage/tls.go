package storage

import (
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
)

// ErrTLSReload: SetTLS was given no usable config, or the node serves
// plain TCP (TLS is on or off from Start to Shutdown).
var ErrTLSReload = errors.New("storage: cannot replace TLS config")

// tlsMaterial is the server config of the next TLS handshake. The
// listener's own config only points here (GetConfigForClient), so SetTLS
// changes certificates and client CAs without a new listener, and
// connections already handshaken keep what they were made with.
type tlsMaterial struct {
	cur      atomic.Pointer[tls.Config]
	reloads  atomic.Uint64 // configs SetTLS applied
	failures atomic.Uint64 // replacements refused (SetTLS, TLSReloadFailed)
}

// wrap returns ln serving TLS with cfg, or ln itself when cfg is nil.
func (m *tlsMaterial) wrap(ln net.Listener, cfg *tls.Config) net.Listener {
	if cfg == nil {
		return ln
	}
	m.cur.Store(cfg)
	// Handshakes run on each connection's reader.
	return tls.NewListener(ln, &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return m.cur.Load(), nil
	}})
}

// SetTLS makes cfg (a certificate, and ClientCAs and ClientAuth for
// mutual TLS) the config of later handshakes, such as certificates
// re-read on SIGHUP. A nil cfg, one without a certificate, or a node
// started without TLS is refused, counted and logged, and the running
// config stays. Any goroutine.
func (s *Server) SetTLS(cfg *tls.Config) error {
	switch {
	case s.tlsm.cur.Load() == nil:
		s.TLSReloadFailed(errors.New("node started without TLS; restart it to turn TLS on"))
		return ErrTLSReload
	case cfg == nil || (len(cfg.Certificates) == 0 && cfg.GetCertificate == nil):
		s.TLSReloadFailed(errors.New("no certificate"))
		return ErrTLSReload
	}
	s.tlsm.cur.Store(cfg)
	s.tlsm.reloads.Add(1)
	s.log.Info("storage: TLS config replaced; new handshakes use it")
	return nil
}

// TLSReloadFailed counts and logs a TLS replacement that did not happen,
// such as certificate files that could not be read; the running config
// stays. Any goroutine.
func (s *Server) TLSReloadFailed(err error) {
	s.tlsm.failures.Add(1)
	s.log.Error("storage: TLS reload rejected; the running certificates stay", "err", err)
}
