package link

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// clientTLS runs the TLS handshake on nc within timeout (part of the dial
// budget) and returns the TLS connection; on error nc is closed.
func clientTLS(ctx context.Context, nc net.Conn, cfg *tls.Config, addr string, timeout time.Duration) (net.Conn, error) {
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
	}
	tc := tls.Client(nc, cfg)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}
