package link

import (
	"context"

	"github.com/distridata/distridata/protocol"
)

// CommitEpoch sends REPOCH to node and waits for the answer within ctx.
// It returns the node's committed epoch and ring after the request; a
// refusal for the epoch (the node has a newer one, or another ring at
// this one) is NodeStatusError(StatusWrongEpoch) with the reply filled in.
func (p *Pool) CommitEpoch(ctx context.Context, node string, c protocol.EpochCommit) (protocol.EpochReply, error) {
	var out protocol.EpochReply
	err := p.call(ctx, node, protocol.OpReplicaEpoch, func(dl uint32) []byte {
		c.DeadlineMs = dl
		return protocol.AppendEpochCommit(nil, 0, c)
	}, func(body []byte) (err error) {
		out, err = protocol.DecodeEpochReply(body)
		return err
	})
	return out, err
}

// Drop sends RDROP to node and waits for the answer within ctx. A refusal
// for the epoch is NodeStatusError(StatusWrongEpoch), with the node's
// stamp in the reply.
func (p *Pool) Drop(ctx context.Context, node string, d protocol.Drop) (protocol.DropReply, error) {
	var out protocol.DropReply
	err := p.call(ctx, node, protocol.OpReplicaDrop, func(dl uint32) []byte {
		d.DeadlineMs = dl
		return protocol.AppendDrop(nil, 0, d)
	}, func(body []byte) (err error) {
		out, err = protocol.DecodeDropReply(body)
		return err
	})
	return out, err
}

// stampedRefusal reports whether a non-OK reply to op still carries its
// body: REPOCH and RDROP refused for their epoch say the node's epoch.
func stampedRefusal(op protocol.Opcode, h protocol.Header, body []byte) bool {
	return (op == protocol.OpReplicaEpoch || op == protocol.OpReplicaDrop) &&
		h.Status == protocol.StatusWrongEpoch && len(body) > 0
}
