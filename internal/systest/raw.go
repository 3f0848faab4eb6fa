package systest

import (
	"fmt"
	"net"
	"time"

	"github.com/distridata/distridata/protocol"
)

// rawTimeout bounds a raw exchange: dial, HELLO, one request.
const rawTimeout = 5 * time.Second

// ClientHello is the bytes of a valid client HELLO frame (id 1, no
// token): what a raw connection sends before anything else.
func ClientHello() []byte {
	return protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.ProtocolVersion, Role: protocol.RoleClient})
}

// DialRaw opens a TCP connection to addr and, if hello, completes the
// client HELLO exchange, so the caller speaks frames by hand.
func DialRaw(addr string, hello bool) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, rawTimeout)
	if err != nil || !hello {
		return nc, err
	}
	if err := handshake(nc, ClientHello()); err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

func handshake(nc net.Conn, hello []byte) error {
	nc.SetDeadline(time.Now().Add(rawTimeout))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(hello); err != nil {
		return err
	}
	f, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrameSize)
	if err != nil {
		return fmt.Errorf("cannot read HELLO reply: %w", err)
	}
	if f.Status != protocol.StatusOK {
		return fmt.Errorf("HELLO refused: %v", f.Status)
	}
	return nil
}

// NodeGet reads key straight from node n (a replica GET, bypassing the
// daemon and n's proxy): the version that one replica stores.
func (c *Cluster) NodeGet(n *Node, key []byte) (protocol.Result, error) {
	return c.nodeOp(n, protocol.Item{Kind: protocol.ItemGet, Partition: c.ring.Partition(key), Key: key})
}

// NodePut writes key = value at version v straight to node n (a replica
// PUT, bypassing the daemon and n's proxy) and returns the node's answer.
// An error means no answer came: the node was not reachable, or closed
// the connection with the write in flight (its outcome is then unknown).
func (c *Cluster) NodePut(n *Node, key, value []byte, v protocol.Version) (protocol.Result, error) {
	return c.nodeOp(n, protocol.Item{Kind: protocol.ItemPut, Partition: c.ring.Partition(key), Key: key, Value: value, Version: v})
}

// nodeOp sends one replica operation to node n on a new connection and
// returns its result.
func (c *Cluster) nodeOp(n *Node, it protocol.Item) (protocol.Result, error) {
	nc, err := net.DialTimeout("tcp", n.Addr, rawTimeout)
	if err != nil {
		return protocol.Result{}, err
	}
	defer nc.Close()
	hello := protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.PeerVersion, Role: protocol.RolePeer})
	if err := handshake(nc, hello); err != nil {
		return protocol.Result{}, err
	}
	nc.SetDeadline(time.Now().Add(rawTimeout))
	req := protocol.AppendReplicaOp(nil, 2, protocol.ReplicaHeader{Epoch: c.ring.Epoch(), Ring: c.ring.Hash()}, it)
	if _, err := nc.Write(req); err != nil {
		return protocol.Result{}, err
	}
	f, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrameSize)
	if err != nil {
		return protocol.Result{}, err
	}
	body, err := f.Open(nil, protocol.DefaultMaxFrameSize)
	if err != nil {
		return protocol.Result{}, err
	}
	_, res, err := protocol.DecodeReplicaReply(f.Header, body)
	return res, err
}
