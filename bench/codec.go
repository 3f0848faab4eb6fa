package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

// opKind is the operation of one generated request.
type opKind uint8

const (
	opSet  opKind = 0
	opGet  opKind = 1
	numOps        = 2
)

func (o opKind) String() string {
	if o == opSet {
		return "set"
	}
	return "get"
}

// reply is one decoded answer. For ordered dialects (RESP) id is unset and
// the reader assigns the oldest outstanding request.
type reply struct {
	id      uint64
	op      opKind
	status  protocol.Status
	errName string // RESP error word ("ERR", "READONLY"); empty otherwise
}

// ok reports whether the reply counts as a successful operation.
func (r reply) ok() bool { return r.errName == "" && r.status.Outcome() == protocol.OutcomeOK }

// name is the key under which the reply is counted.
func (r reply) name() string {
	if r.errName != "" {
		return r.errName
	}
	return r.status.String()
}

// codec is one connection's dialect. handshake runs once on the fresh
// connection before the driver starts; then appendRequest belongs to the
// writer goroutine and parseReply to the reader goroutine.
type codec interface {
	handshake(nc net.Conn, deadline time.Time) error
	appendRequest(dst []byte, id uint64, op opKind, key, value []byte) []byte
	// parseReply decodes the first reply in b; n == 0 with a nil error
	// means b holds less than one reply.
	parseReply(b []byte) (n int, r reply, err error)
	// ordered reports that replies carry no ID and come in request order.
	ordered() bool
}

// frameCodec speaks the DistriData protocol to a daemon (PUT/GET) or a
// storage node (RPUT/RGET).
type frameCodec struct {
	node     bool
	token    []byte
	putOpts  protocol.Options       // daemon: W and deadline
	getOpts  protocol.Options       // daemon: R and deadline
	rhdr     protocol.ReplicaHeader // node: epoch (from HELLO) and deadline
	clock    *protocol.Clock        // node: versions of writes; shared by all conns
	partMask uint32                 // node: partitions - 1
	maxFrame int                    // the server's advertised frame limit
}

// benchOrigin is the Version.Origin of writes sent straight to a node: a
// daemon ID that no real deployment should use.
const benchOrigin uint32 = 0xFFFFBE4C

// newFrameCodec returns the codec of one connection; clock is shared by
// all connections of a node run, and nil otherwise.
func newFrameCodec(cfg *Config, clock *protocol.Clock) *frameCodec {
	ms := uint32(cfg.Deadline.Milliseconds())
	return &frameCodec{
		node:     cfg.Target == TargetNode,
		token:    cfg.Token,
		putOpts:  protocol.Options{Quorum: cfg.W, DeadlineMs: ms},
		getOpts:  protocol.Options{Quorum: cfg.R, DeadlineMs: ms},
		rhdr:     protocol.ReplicaHeader{DeadlineMs: ms},
		clock:    clock,
		partMask: cfg.Partitions - 1,
		maxFrame: protocol.DefaultMaxFrameSize,
	}
}

func (c *frameCodec) ordered() bool { return false }

func (c *frameCodec) handshake(nc net.Conn, deadline time.Time) error {
	role, version := protocol.RoleClient, protocol.ProtocolVersion
	if c.node {
		role, version = protocol.RolePeer, protocol.PeerVersion
	}
	req := protocol.AppendHello(nil, 0, protocol.Hello{Version: version, Role: role, Token: c.token})
	if err := nc.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := nc.Write(req); err != nil {
		return fmt.Errorf("%w: cannot send HELLO: %w", ErrHandshake, err)
	}
	f, err := protocol.ReadFrame(nc, protocol.DefaultMaxPreAuthFrameSize)
	if err != nil {
		return fmt.Errorf("%w: cannot read HELLO reply: %w", ErrHandshake, err)
	}
	if f.Op != protocol.OpHello || !f.IsReply() || f.Status != protocol.StatusOK {
		return fmt.Errorf("%w: HELLO answered %s %s", ErrHandshake, f.Op, f.Status)
	}
	hr, err := protocol.DecodeHelloReply(f.Body)
	if err != nil {
		return fmt.Errorf("%w: cannot decode HELLO reply: %w", ErrHandshake, err)
	}
	c.rhdr.Epoch = hr.Epoch
	if c.clock != nil {
		c.clock.Observe(hr.Clock)
	}
	if hr.Limits.MaxFrameSize > 0 {
		c.maxFrame = hr.Limits.MaxFrameSize
	}
	return nc.SetDeadline(time.Time{})
}

func (c *frameCodec) appendRequest(dst []byte, id uint64, op opKind, key, value []byte) []byte {
	if !c.node {
		if op == opSet {
			return protocol.AppendPut(dst, id, protocol.Put{Options: c.putOpts, Key: key, Value: value})
		}
		return protocol.AppendGet(dst, id, protocol.KeyRequest{Options: c.getOpts, Key: key})
	}
	it := protocol.Item{Kind: protocol.ItemGet, Partition: ring.PartitionOf(key, c.partMask), Key: key}
	if op == opSet {
		it.Kind = protocol.ItemPut
		it.Version = protocol.Version{TS: c.clock.Now(), Origin: benchOrigin}
		it.Value = value
	}
	return protocol.AppendReplicaOp(dst, id, c.rhdr, it)
}

func (c *frameCodec) parseReply(b []byte) (int, reply, error) {
	f, n, err := protocol.Decode(b, c.maxFrame)
	if errors.Is(err, protocol.ErrIncomplete) {
		return 0, reply{}, nil
	}
	if err != nil {
		return 0, reply{}, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	op, ok := c.opOf(f.Op)
	if !ok || !f.IsReply() {
		return 0, reply{}, fmt.Errorf("%w: unexpected %s frame (flags %#x)", ErrBadReply, f.Op, f.Flags)
	}
	if c.node && len(f.Body) >= 8 {
		// The stamp leads every replica reply: merge the node's clock so
		// that our next versions stay newer than what it stores.
		c.clock.Observe(binary.LittleEndian.Uint64(f.Body))
	}
	return n, reply{id: f.ID, op: op, status: f.Status}, nil
}

func (c *frameCodec) opOf(o protocol.Opcode) (opKind, bool) {
	switch {
	case !c.node && o == protocol.OpPut, c.node && o == protocol.OpReplicaPut:
		return opSet, true
	case !c.node && o == protocol.OpGet, c.node && o == protocol.OpReplicaGet:
		return opGet, true
	}
	return 0, false
}
