package link

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"
)

// SetTunables applies a valid snapshot and refuses, keeping the running
// one, a snapshot that is invalid or that turns TLS on.
func TestSetTunables(t *testing.T) {
	p := newTestPool(t, testConfig(), nil)
	next := p.cfg.Tunables()
	next.DialTimeout, next.EjectAfter, next.Token = 3*time.Second, 7, "tok"
	if err := p.SetTunables(next); err != nil {
		t.Fatal(err)
	}
	if got := *p.tunables(); got.DialTimeout != 3*time.Second || got.EjectAfter != 7 || got.Token != "tok" {
		t.Fatalf("applied %+v", got)
	}
	bad := next
	bad.EjectAfter = 0
	if err := p.SetTunables(bad); err == nil {
		t.Fatal("EjectAfter 0 accepted")
	}
	on := next
	on.TLS = &tls.Config{}
	if err := p.SetTunables(on); !errors.Is(err, ErrTLSSwitch) {
		t.Fatalf("turning TLS on: %v", err)
	}
	if got := *p.tunables(); got.EjectAfter != 7 || got.TLS != nil {
		t.Fatalf("a refused snapshot changed the running one: %+v", got)
	}
}
