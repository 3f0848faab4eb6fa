package clustertest

import (
	"fmt"
	"net"
	"time"

	"github.com/distridata/distridata/protocol"
)

// rawTimeout bounds a direct node exchange: dial, HELLO and one batch.
const rawTimeout = 5 * time.Second

// getBatch is how many RGETs NodeGetMany has in flight at once: well
// under a node's per-connection window, so the node never stops reading.
const getBatch = 128

// NodeGet reads key straight from node n with a replica GET (RGET),
// bypassing the daemon: what that one replica stores, with its version
// and tombstone flag. The Result's Value is a private copy.
func (c *Cluster) NodeGet(n *Node, key []byte) (protocol.Result, error) {
	res, err := c.NodeGetMany(n, [][]byte{key})
	if err != nil {
		return protocol.Result{}, err
	}
	return res[0], nil
}

// NodeGetMany is NodeGet for many keys over one connection, pipelined in
// batches of getBatch: result i is keys[i]'s.
func (c *Cluster) NodeGetMany(n *Node, keys [][]byte) ([]protocol.Result, error) {
	nc, err := c.dialNode(n)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	r := c.Daemon.Ring()
	out := make([]protocol.Result, len(keys))
	for start := 0; start < len(keys); start += getBatch {
		end := min(start+getBatch, len(keys))
		var req []byte
		for i := start; i < end; i++ {
			req = protocol.AppendReplicaOp(req, uint64(i+2), protocol.ReplicaHeader{Epoch: r.Epoch(), Ring: r.Hash()}, protocol.Item{
				Kind: protocol.ItemGet, Partition: r.Partition(keys[i]), Key: keys[i],
			})
		}
		if err := nc.SetDeadline(time.Now().Add(rawTimeout)); err != nil {
			return nil, err
		}
		if _, err := nc.Write(req); err != nil {
			return nil, err
		}
		for range end - start {
			id, res, err := readGetReply(nc, n)
			if err != nil {
				return nil, err
			}
			if id < uint64(start+2) || id >= uint64(end+2) {
				return nil, fmt.Errorf("node %s answered id %d, outside %d..%d", n.ID, id, start+2, end+1)
			}
			out[id-2] = res
		}
	}
	return out, nil
}

// dialNode connects to node n and completes a peer HELLO.
func (c *Cluster) dialNode(n *Node) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", n.Addr, rawTimeout)
	if err != nil {
		return nil, err
	}
	if err := nc.SetDeadline(time.Now().Add(rawTimeout)); err != nil {
		nc.Close()
		return nil, err
	}
	hello := protocol.AppendHello(nil, 1, protocol.Hello{
		Version: protocol.PeerVersion, Role: protocol.RolePeer, Token: []byte(c.opts.Token),
	})
	if _, err := nc.Write(hello); err != nil {
		nc.Close()
		return nil, err
	}
	f, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrameSize)
	if err == nil && f.Status != protocol.StatusOK {
		err = fmt.Errorf("node %s refused HELLO: %v", n.ID, f.Status)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

// readGetReply reads one RGET reply: its request ID and result (the
// Value a private copy).
func readGetReply(nc net.Conn, n *Node) (uint64, protocol.Result, error) {
	f, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrameSize)
	if err != nil {
		return 0, protocol.Result{}, err
	}
	if f.Op != protocol.OpReplicaGet {
		return 0, protocol.Result{}, fmt.Errorf("node %s answered %v id %d", n.ID, f.Op, f.ID)
	}
	body, err := f.Open(nil, protocol.DefaultMaxFrameSize)
	if err != nil {
		return 0, protocol.Result{}, err
	}
	_, res, err := protocol.DecodeReplicaReply(f.Header, body)
	return f.ID, res, err
}
