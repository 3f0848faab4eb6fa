package daemon

import "github.com/distridata/distridata/protocol"

// linkLimits widens the node links' limits to the client limits, field by
// field: a value the daemon accepted from a client must fit the replica
// frame that carries it, and its reply from a node must be accepted back.
// Nodes enforce their own limits and must be configured as large.
func linkLimits(link, client protocol.Limits) protocol.Limits {
	link.MaxFrameSize = max(link.MaxFrameSize, client.MaxFrameSize)
	link.MaxKeySize = max(link.MaxKeySize, client.MaxKeySize)
	link.MaxValueSize = max(link.MaxValueSize, client.MaxValueSize)
	link.MaxBatchKeys = max(link.MaxBatchKeys, client.MaxBatchKeys)
	return link
}
