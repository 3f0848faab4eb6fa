package clustertest

import (
	"fmt"
	"net"
	"time"

	"github.com/distridata/distridata/protocol"
)

// rawTimeout bounds a direct node read: dial, HELLO and RGET.
const rawTimeout = 5 * time.Second

// NodeGet reads key straight from node n with a replica GET (RGET),
// bypassing the daemon: what that one replica stores, with its version
// and tombstone flag. The Result's Value is a private copy.
func (c *Cluster) NodeGet(n *Node, key []byte) (protocol.Result, error) {
	nc, err := net.DialTimeout("tcp", n.Addr, rawTimeout)
	if err != nil {
		return protocol.Result{}, err
	}
	defer nc.Close()
	if err := nc.SetDeadline(time.Now().Add(rawTimeout)); err != nil {
		return protocol.Result{}, err
	}
	r := c.Daemon.Ring()
	req := protocol.AppendHello(nil, 1, protocol.Hello{
		Version: protocol.ProtocolVersion, Role: protocol.RolePeer, Token: []byte(c.opts.Token),
	})
	req = protocol.AppendReplicaOp(req, 2, protocol.ReplicaHeader{Epoch: r.Epoch()}, protocol.Item{
		Kind: protocol.ItemGet, Partition: r.Partition(key), Key: key,
	})
	if _, err := nc.Write(req); err != nil {
		return protocol.Result{}, err
	}
	hello, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrameSize)
	if err != nil {
		return protocol.Result{}, err
	}
	if hello.Status != protocol.StatusOK {
		return protocol.Result{}, fmt.Errorf("node %s refused HELLO: %v", n.ID, hello.Status)
	}
	f, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrameSize)
	if err != nil {
		return protocol.Result{}, err
	}
	if f.Op != protocol.OpReplicaGet || f.ID != 2 {
		return protocol.Result{}, fmt.Errorf("node %s answered %v id %d", n.ID, f.Op, f.ID)
	}
	body, err := f.Open(nil, protocol.DefaultMaxFrameSize)
	if err != nil {
		return protocol.Result{}, err
	}
	_, res, err := protocol.DecodeReplicaReply(f.Header, body)
	return res, err
}
