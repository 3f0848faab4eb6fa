package protocol

// Ring changes need two operations beyond reads and writes: a daemon that
// has finished moving data to a new ring commits its epoch on every node
// (REPOCH), and later removes the partitions a node no longer owns
// (RDROP). Both replies carry the stamp plus one u64 whatever their
// status, OK or WRONG_EPOCH, so a refused sender learns the node's epoch.
//
//	REPOCH request:  prefix                   reply: stamp | ring u64
//	RDROP request:   prefix | partition u32   reply: stamp | keys u64

// EpochCommit is an REPOCH request: make the prefix's Epoch and Ring (the
// ring's fingerprint, ring.Ring.Hash) the node's committed ring, so two
// different rings committed at one epoch are told apart. Before protocol
// version 2 the ring followed the prefix; it is in the prefix now.
type EpochCommit struct {
	ReplicaHeader
}

// EpochReply is the body of an REPOCH reply: the node's stamp (whose Epoch
// is its committed epoch after the request) and that ring's fingerprint
// (0 when the node has committed none).
type EpochReply struct {
	ReplicaStamp
	Ring uint64
}

// AppendEpochCommit appends a whole REPOCH request frame.
func AppendEpochCommit(dst []byte, id uint64, c EpochCommit) []byte {
	dst, start := beginFrame(dst, OpReplicaEpoch, 0, 0, id)
	dst = appendReplicaHeader(dst, c.ReplicaHeader)
	return endFrame(dst, start)
}

// DecodeEpochCommit parses an REPOCH request body.
func DecodeEpochCommit(body []byte) (EpochCommit, error) {
	c := cursor{b: body}
	e := EpochCommit{ReplicaHeader: c.replicaHeader()}
	return e, c.done()
}

// AppendEpochReply appends a whole REPOCH reply frame with status s (OK,
// or WRONG_EPOCH when the request's epoch was below the node's, or equal
// with another ring).
func AppendEpochReply(dst []byte, id uint64, s Status, r EpochReply) []byte {
	dst, start := beginFrame(dst, OpReplicaEpoch, FlagReply, s, id)
	dst = appendStamp(dst, r.ReplicaStamp)
	dst = appendU64(dst, r.Ring)
	return endFrame(dst, start)
}

// DecodeEpochReply parses the body of an OK or WRONG_EPOCH REPOCH reply.
func DecodeEpochReply(body []byte) (EpochReply, error) {
	c := cursor{b: body}
	r := EpochReply{ReplicaStamp: c.stamp(), Ring: c.u64()}
	return r, c.done()
}

// Drop is an RDROP request: remove every entry of Partition, which the
// sender's ring (at the prefix's Epoch) no longer places on this node.
type Drop struct {
	ReplicaHeader
	Partition uint32
}

// DropReply is the body of an RDROP reply: the node's stamp and the
// number of entries (keys and tombstones) removed.
type DropReply struct {
	ReplicaStamp
	Keys uint64
}

// AppendDrop appends a whole RDROP request frame.
func AppendDrop(dst []byte, id uint64, d Drop) []byte {
	dst, start := beginFrame(dst, OpReplicaDrop, 0, 0, id)
	dst = appendReplicaHeader(dst, d.ReplicaHeader)
	dst = appendU32(dst, d.Partition)
	return endFrame(dst, start)
}

// DecodeDrop parses an RDROP request body.
func DecodeDrop(body []byte) (Drop, error) {
	c := cursor{b: body}
	d := Drop{ReplicaHeader: c.replicaHeader(), Partition: c.u32()}
	return d, c.done()
}

// AppendDropReply appends a whole RDROP reply frame with status s (OK, or
// WRONG_EPOCH when the request's epoch is not the node's committed one or
// a newer ring is being moved to).
func AppendDropReply(dst []byte, id uint64, s Status, r DropReply) []byte {
	dst, start := beginFrame(dst, OpReplicaDrop, FlagReply, s, id)
	dst = appendStamp(dst, r.ReplicaStamp)
	dst = appendU64(dst, r.Keys)
	return endFrame(dst, start)
}

// DecodeDropReply parses the body of an OK or WRONG_EPOCH RDROP reply.
func DecodeDropReply(body []byte) (DropReply, error) {
	c := cursor{b: body}
	r := DropReply{ReplicaStamp: c.stamp(), Keys: c.u64()}
	return r, c.done()
}
