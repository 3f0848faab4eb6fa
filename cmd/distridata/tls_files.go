package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
)

// serverTLS builds the TLS listener's config from PEM files: a
// certificate and key, and optionally a client CA bundle, which turns on
// mutual TLS (a client without a certificate it signed is refused in the
// handshake). TLS 1.2 is the floor: older versions have known breaks.
func serverTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("TLS needs both --tls-cert and --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot load TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		if cfg.ClientCAs, err = loadCAs(clientCAFile); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// loadCAs reads a PEM bundle of CA certificates.
func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", path)
	}
	return pool, nil
}

// nodeTLS builds the links' client config: nil (plain TCP) without a CA;
// with one, nodes are verified against it, and a certificate and key, if
// given, answer nodes that require mutual TLS.
func nodeTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" {
		if certFile != "" || keyFile != "" {
			return nil, fmt.Errorf("--node-tls-cert and --node-tls-key need --node-tls-ca")
		}
		return nil, nil
	}
	pool, err := loadCAs(caFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("cannot load node TLS certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// clientTLSFlags are the TLS flags of every command that dials a daemon
// (put, get, del, stats, ping, bench, idle). They mirror serve's: the
// daemon's --tls-cert is verified with --tls-ca, and --tls-cert and
// --tls-key here are the client's own, for a daemon with --tls-client-ca.
type clientTLSFlags struct {
	on                             bool
	caFile, certFile, keyFile, sni string
}

func (f *clientTLSFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "tls", false, "connect over TLS (to serve's --tls-listen address); without --tls-ca the system roots verify the daemon")
	fs.StringVar(&f.caFile, "tls-ca", "", "PEM CA bundle that verifies the daemon's certificate (implies --tls)")
	fs.StringVar(&f.certFile, "tls-cert", "", "PEM client certificate, for a daemon that requires mutual TLS (with --tls-key)")
	fs.StringVar(&f.keyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&f.sni, "tls-server-name", "", "name the daemon's certificate must carry (default: the --addr host)")
}

// config returns nil (plain TCP) unless --tls or --tls-ca was given. The
// other flags alone are an error rather than a silent plain connection.
func (f clientTLSFlags) config() (*tls.Config, error) {
	if !f.on && f.caFile == "" {
		if f.certFile != "" || f.keyFile != "" || f.sni != "" {
			return nil, fmt.Errorf("--tls-cert, --tls-key and --tls-server-name need --tls or --tls-ca")
		}
		return nil, nil
	}
	cfg := &tls.Config{ServerName: f.sni, MinVersion: tls.VersionTLS12}
	if f.caFile != "" {
		pool, err := loadCAs(f.caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.certFile != "" || f.keyFile != "" {
		if f.certFile == "" || f.keyFile == "" {
			return nil, fmt.Errorf("a client certificate needs both --tls-cert and --tls-key")
		}
		cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("cannot load client TLS certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
