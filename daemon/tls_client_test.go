package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/internal/pkitest"
)

// tlsClientOptions are client options for the TLS listener with cfg.
func tlsClientOptions(cfg *tls.Config) client.Options {
	o := client.DefaultOptions()
	o.DialTimeout = 5 * time.Second
	o.TLS = cfg
	return o
}

// The Go client speaks to the TLS listener: a Conn and a Pool round trip,
// with the server name taken from the address.
func TestTLSGoClientRoundTrip(t *testing.T) {
	ca := pkitest.NewCA(t, "test CA")
	_, tf := startTLSFront(t, testConfig(), &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, 2)}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, tf.addr(), tlsClientOptions(&tls.Config{RootCAs: ca.Pool}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if val, _, err := c.Get(ctx, []byte("k")); err != nil || string(val) != "v" {
		t.Fatalf("GET: %q %v", val, err)
	}
	p, err := client.NewPool(ctx, tf.addr(), 2, tlsClientOptions(&tls.Config{RootCAs: ca.Pool}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 4 {
		if val, _, err := p.Get(ctx, []byte("k")); err != nil || string(val) != "v" {
			t.Fatalf("pool GET: %q %v", val, err)
		}
	}
}

// Mutual TLS: the Go client with a certificate from the CA is served;
// without one, Dial fails (in the handshake, or at HELLO under TLS 1.3).
func TestTLSGoClientMutual(t *testing.T) {
	ca := pkitest.NewCA(t, "test CA")
	srv := &tls.Config{
		Certificates: []tls.Certificate{ca.Issue(t, 2)},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool,
	}
	_, tf := startTLSFront(t, testConfig(), srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, tf.addr(), tlsClientOptions(&tls.Config{RootCAs: ca.Pool}))
	if err == nil {
		c.Close()
		t.Fatal("Dial without a client certificate succeeded")
	}
	if !errors.Is(err, client.ErrHandshake) || !errors.Is(err, client.ErrFailed) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without a client certificate: %v", err)
	}
	mine := ca.Issue(t, 3)
	c, err = client.Dial(ctx, tf.addr(), tlsClientOptions(&tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{mine}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// A daemon whose certificate another CA signed is refused in the
// handshake, with the verification error in the chain and the text.
func TestTLSGoClientWrongCA(t *testing.T) {
	ca := pkitest.NewCA(t, "test CA")
	_, tf := startTLSFront(t, testConfig(), &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, 2)}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, tf.addr(), tlsClientOptions(&tls.Config{RootCAs: pkitest.NewCA(t, "test CA").Pool}))
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) || !errors.Is(err, client.ErrHandshake) {
		t.Fatalf("wrong CA: %v", err)
	}
	if !strings.Contains(err.Error(), "TLS with "+tf.addr()) || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("wrong CA error says too little: %v", err)
	}
	t.Log(err)
}
