package link

import (
	"context"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// Scan, Digest and Buckets carry anti-entropy and rebalancing traffic
// (RSCAN or RBSCAN, RDIGEST, RBUCKETS), and CommitEpoch and Drop (epoch.go)
// a ring change's REPOCH and RDROP, over the same pipelined connections,
// windows and health as
// Send: they are not part of replica.Backend, since the replication core
// never needs them.

// Scan asks node for one page of a partition (see protocol.Scan) and waits
// for it within ctx, whose deadline also travels on the wire. The reply's
// entries alias a private copy of the reply body that the caller owns. A
// node's refusal is returned as NodeStatusError of its status.
func (p *Pool) Scan(ctx context.Context, node string, s protocol.Scan) (protocol.ScanReply, error) {
	var out protocol.ScanReply
	err := p.call(ctx, node, s.Op(), func(dl uint32) []byte {
		s.DeadlineMs = dl
		return protocol.AppendScan(nil, 0, s)
	}, func(body []byte) (err error) {
		out, err = protocol.DecodeScanReply(clone(body))
		return err
	})
	return out, err
}

// Digest asks node for the digest of one partition and waits for it
// within ctx.
func (p *Pool) Digest(ctx context.Context, node string, d protocol.Digest) (protocol.DigestReply, error) {
	var out protocol.DigestReply
	err := p.call(ctx, node, protocol.OpReplicaDigest, func(dl uint32) []byte {
		d.DeadlineMs = dl
		return protocol.AppendDigest(nil, 0, d)
	}, func(body []byte) (err error) {
		out, err = protocol.DecodeDigestReply(body)
		return err
	})
	return out, err
}

// Buckets asks node for the digests of a bucket's sub-buckets and waits
// for them within ctx. The reply aliases a private copy of its body.
func (p *Pool) Buckets(ctx context.Context, node string, b protocol.Buckets) (protocol.BucketsReply, error) {
	var out protocol.BucketsReply
	err := p.call(ctx, node, protocol.OpReplicaBuckets, func(dl uint32) []byte {
		b.DeadlineMs = dl
		return protocol.AppendBuckets(nil, 0, b)
	}, func(body []byte) (err error) {
		out, err = protocol.DecodeBucketsReply(clone(body))
		if err == nil && out.Count != b.Count() {
			err = protocol.ErrMalformed
		}
		return err
	})
	return out, err
}

// call sends one item-less request and blocks until it completes. encode
// builds the frame (ID 0, patched at enqueue) for a wire deadline; decode
// parses an OK reply body, on the reader goroutine, before call returns.
func (p *Pool) call(ctx context.Context, id string, op protocol.Opcode, encode func(deadlineMs uint32) []byte, decode func(body []byte) error) error {
	if p.closed.Load() {
		return ErrClosed
	}
	n := (*p.nodes.Load())[id]
	if n == nil {
		return ErrUnknownNode
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !n.up.Load() {
		return ErrNodeDown
	}
	frame := encode(deadlineMs(ctx))
	if err := n.window.acquire(ctx, len(frame)); err != nil {
		return err
	}
	result := make(chan error, 1)
	r := &request{ctx: ctx, node: n, op: op, size: len(frame), frame: frame}
	r.raw = func(h protocol.Header, body []byte) replica.Reply {
		if h.Status != protocol.StatusOK && !stampedRefusal(op, h, body) {
			return replica.Reply{Err: NodeStatusError(h.Status)}
		}
		if err := decode(body); err != nil {
			return replica.Reply{Err: both(ErrBadReply, err)}
		}
		if h.Status != protocol.StatusOK {
			return replica.Reply{Err: NodeStatusError(h.Status)}
		}
		return replica.Reply{}
	}
	r.done = func(rep replica.Reply) { result <- rep.Err }
	if err := n.submit(r, protocol.ReplicaHeader{}, nil, false); err != nil {
		n.window.release(len(frame))
		return err
	}
	return <-result
}
