package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// dial connects to addr within timeout, over TLS when cfg is not nil (an
// empty ServerName is taken from addr's host). The handshake is part of
// the connection's setup, so it is never measured.
func dial(ctx context.Context, addr string, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || cfg == nil {
		return nc, err
	}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS with %s: %w", addr, err)
	}
	return tc, nil
}
