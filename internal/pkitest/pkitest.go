// Package pkitest makes throwaway certificate authorities and leaf
// certificates for 127.0.0.1 inside a test, in memory or as PEM files,
// for tests of TLS listeners, links and certificate rotation.
package pkitest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// validity is how long certificates live either side of now: long past
// any test, short enough that a leaked one is useless.
const validity = time.Hour

// CA is a certificate authority; Pool trusts it alone.
type CA struct {
	Cert *x509.Certificate
	Pool *x509.CertPool
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-validity), NotAfter: time.Now().Add(validity),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Pool: pool, key: key}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// Issue makes a leaf for 127.0.0.1 with serial, usable as a server or a
// client certificate; Serial tells it apart in a handshake.
func (ca *CA) Issue(t testing.TB, serial int64) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-validity), NotAfter: time.Now().Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Files are the PEM files of a CA and of one leaf it issued.
type Files struct{ CA, Cert, Key string }

// WriteFiles writes the CA as dir/ca.pem and a leaf with serial as
// dir/cert.pem and dir/key.pem, replacing whatever they held (a
// rotation: rename over the old files, as an operator's tool would).
func (ca *CA) WriteFiles(t testing.TB, dir string, serial int64) Files {
	t.Helper()
	leaf := ca.Issue(t, serial)
	kb, err := x509.MarshalECPrivateKey(leaf.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	f := Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	WriteFile(t, f.CA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	WriteFile(t, f.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}))
	WriteFile(t, f.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	return f
}

// WriteFile replaces path with b atomically (a rename), so a reader sees
// the old file or the new one, never half of one.
func WriteFile(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Serial is the serial number of the peer's leaf certificate in cs, or
// -1 when it sent none.
func Serial(cs tls.ConnectionState) int64 {
	if len(cs.PeerCertificates) == 0 {
		return -1
	}
	return cs.PeerCertificates[0].SerialNumber.Int64()
}

// DialSerial completes a TLS handshake with addr trusting roots (and
// presenting certs, if any) and returns the server's leaf serial; the
// connection is closed.
func DialSerial(addr string, roots *x509.CertPool, certs ...tls.Certificate) (int64, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	nc, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: roots, Certificates: certs})
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	return Serial(nc.ConnectionState()), nil
}
