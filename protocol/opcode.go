package protocol

import "strconv"

// Opcode names the operation of a frame. A reply carries the opcode of its
// request plus FlagReply. Numbers are append-only.
type Opcode uint8

// Client operations (client ↔ daemon). 0x00 is never valid, so a zeroed
// buffer is not a frame.
const (
	OpHello Opcode = 0x01 // handshake; must be first on every connection
	OpPing  Opcode = 0x02 // liveness; reply echoes the body
	OpPut   Opcode = 0x03 // store a value
	OpGet   Opcode = 0x04 // read a value
	OpDel   Opcode = 0x05 // delete (a versioned tombstone)
	OpStats Opcode = 0x06 // server counters as text
	OpMPut  Opcode = 0x07 // many PUTs in one frame
	OpMGet  Opcode = 0x08 // many GETs in one frame
)

// Replica operations (daemon ↔ storage node). They carry explicit versions,
// partitions and the sender's ring epoch.
const (
	OpReplicaPut    Opcode = 0x20 // versioned write of one key
	OpReplicaGet    Opcode = 0x21 // read one key with its version
	OpReplicaDel    Opcode = 0x22 // versioned tombstone of one key
	OpReplicaBatch  Opcode = 0x23 // many replica items in one frame
	OpReplicaScan   Opcode = 0x24 // iterate a partition's keys and versions
	OpReplicaDigest Opcode = 0x25 // a partition's digest, for anti-entropy
	OpReplicaEpoch  Opcode = 0x26 // commit a ring epoch: older ones are refused from then on
	OpReplicaDrop   Opcode = 0x27 // remove a partition the node no longer owns
	// OpReplicaBuckets and OpReplicaBucketScan narrow a digest mismatch
	// to hash buckets of a partition (bucket.go).
	OpReplicaBuckets    Opcode = 0x28 // digests of a bucket's sub-buckets
	OpReplicaBucketScan Opcode = 0x29 // RSCAN restricted to one bucket
)

var opNames = map[Opcode]string{
	OpHello: "HELLO", OpPing: "PING", OpPut: "PUT", OpGet: "GET", OpDel: "DEL",
	OpStats: "STATS", OpMPut: "MPUT", OpMGet: "MGET",
	OpReplicaPut: "RPUT", OpReplicaGet: "RGET", OpReplicaDel: "RDEL",
	OpReplicaBatch: "RBATCH", OpReplicaScan: "RSCAN", OpReplicaDigest: "RDIGEST",
	OpReplicaEpoch: "REPOCH", OpReplicaDrop: "RDROP",
	OpReplicaBuckets: "RBUCKETS", OpReplicaBucketScan: "RBSCAN",
}

func (o Opcode) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return "OP_0x" + strconv.FormatUint(uint64(o), 16)
}

// Known reports whether this version of the protocol defines o.
func (o Opcode) Known() bool { _, ok := opNames[o]; return ok }

// IsReplica reports whether o is a daemon ↔ node operation.
func (o Opcode) IsReplica() bool { return o >= OpReplicaPut && o <= OpReplicaBucketScan }
