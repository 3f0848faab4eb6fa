package link

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/distridata/distridata/protocol"
)

// helloID is the request ID of HELLO; requests are numbered from 1.
const helloID = 0

// connect dials the node and completes HELLO within DialTimeout.
func (n *node) connect() (*conn, error) {
	tun := n.pool.tunables() // one snapshot for the whole dial
	d := net.Dialer{Timeout: tun.DialTimeout}
	nc, err := d.DialContext(n.ctx, "tcp", n.addr)
	if err != nil {
		return nil, fmt.Errorf("cannot dial node: %w", err)
	}
	if tun.TLS != nil {
		if nc, err = clientTLS(n.ctx, nc, tun.TLS, n.addr, tun.DialTimeout); err != nil {
			return nil, fmt.Errorf("cannot dial node: %w", err)
		}
	}
	c := newConn(n, nc)
	if err := c.handshake(tun); err != nil {
		nc.Close()
		return nil, fmt.Errorf("cannot handshake with node: %w", err)
	}
	return c, nil
}

// handshake sends HELLO as a peer and checks the reply. The node's clock
// and epoch in the reply go to OnStamp like any reply's stamp.
func (c *conn) handshake(tun *Tunables) error {
	cfg := &c.node.pool.cfg
	stop := context.AfterFunc(c.node.ctx, func() { c.nc.Close() })
	defer stop()
	if err := c.nc.SetDeadline(time.Now().Add(tun.DialTimeout)); err != nil {
		return err
	}
	hello := protocol.AppendHello(nil, helloID, protocol.Hello{
		Version: protocol.PeerVersion,
		Role:    protocol.RolePeer,
		Token:   []byte(tun.Token),
	})
	if _, err := c.nc.Write(hello); err != nil {
		return err
	}
	f, err := c.fr.next(cfg.Limits.MaxPreAuthFrameSize)
	if err != nil {
		return err
	}
	if f.Op != protocol.OpHello || !f.IsReply() || f.ID != helloID {
		return ErrProtocol
	}
	if f.Status != protocol.StatusOK {
		return both(ErrHelloRefused, NodeStatusError(f.Status))
	}
	body, err := f.Open(nil, cfg.Limits.MaxPreAuthFrameSize)
	if err != nil {
		return err
	}
	hr, err := protocol.DecodeHelloReply(body)
	if err != nil {
		return err
	}
	if hr.Version != protocol.PeerVersion {
		return protocol.ErrVersion
	}
	if m := hr.Limits.MaxFrameSize; m > 0 && m < cfg.Limits.MaxFrameSize {
		// Frames are still checked against our own limit only; the node
		// will refuse larger ones and close, so say why in advance.
		c.node.log.Warn("link: node accepts smaller frames than configured", "node_max_frame", m, "max_frame", cfg.Limits.MaxFrameSize)
	}
	if cfg.OnStamp != nil {
		cfg.OnStamp(protocol.ReplicaStamp{Clock: hr.Clock, Epoch: hr.Epoch})
	}
	return c.nc.SetDeadline(time.Time{})
}
