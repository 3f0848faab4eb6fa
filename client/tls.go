package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
)

// startTLS runs the TLS handshake on nc within ctx and returns the TLS
// connection; on error nc is closed. An empty ServerName is taken from
// addr's host, so that a certificate for an IP or a name verifies
// without more configuration.
func startTLS(ctx context.Context, nc net.Conn, addr string, cfg *tls.Config) (net.Conn, error) {
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%w: TLS with %s: %w", ErrHandshake, addr, err)
	}
	return tc, nil
}
