package link

import (
	"encoding/binary"

	"github.com/distridata/distridata/protocol"
)

// Encoded sizes of the parts of a replica request (see protocol/replica.go).
const (
	replicaHeaderSize = protocol.ReplicaHeaderSize
	batchCountSize    = 2         // count u16
	itemFixedSize     = 1 + 4 + 2 // kind | partition | key length
	valueLenSize      = 4
)

// frameSize validates items against the limits and returns the size of
// the plain request frame that carries them.
func frameSize(l protocol.Limits, items []protocol.Item) (int, error) {
	if len(items) == 0 {
		return 0, ErrNoItems
	}
	if len(items) > 1 {
		if err := l.CheckBatch(len(items)); err != nil {
			return 0, err
		}
	}
	size := protocol.HeaderSize + replicaHeaderSize
	if len(items) > 1 {
		size += batchCountSize
	}
	for i := range items {
		n, err := itemSize(l, &items[i])
		if err != nil {
			return 0, err
		}
		size += n
	}
	if size > l.MaxFrameSize {
		return 0, protocol.ErrFrameTooLarge
	}
	return size, nil
}

func itemSize(l protocol.Limits, it *protocol.Item) (int, error) {
	if err := l.CheckKey(it.Key); err != nil {
		return 0, err
	}
	n := itemFixedSize + len(it.Key)
	switch it.Kind {
	case protocol.ItemGet:
	case protocol.ItemDel:
		n += protocol.VersionSize
	case protocol.ItemPut:
		if err := l.CheckValue(it.Value); err != nil {
			return 0, err
		}
		n += protocol.VersionSize + valueLenSize + len(it.Value)
	default:
		return 0, ErrBadItem
	}
	return n, nil
}

// appendRequest appends the plain request frame for items.
func appendRequest(dst []byte, id uint64, h protocol.ReplicaHeader, items []protocol.Item) []byte {
	if len(items) == 1 {
		return protocol.AppendReplicaOp(dst, id, h, items[0])
	}
	w := protocol.BeginReplicaBatch(dst, id, h)
	for _, it := range items {
		w.Add(it)
	}
	return w.Finish()
}

// needsSeal reports whether a plain frame of size bytes would be changed
// by Seal under o. Frames that would not are encoded straight into the
// connection's write buffer, skipping a copy.
func needsSeal(o protocol.SealOptions, size int) bool {
	body := size - protocol.HeaderSize
	return (o.CompressAbove > 0 && body >= o.CompressAbove) ||
		(o.ChecksumAbove > 0 && body >= o.ChecksumAbove)
}

// sealRequest encodes and seals a request with a zero ID into a pooled
// buffer; the connection patches the ID in (the header is not covered by
// the checksum). The caller returns the buffer with putBuf.
func sealRequest(o protocol.SealOptions, size int, h protocol.ReplicaHeader, items []protocol.Item) *[]byte {
	plain := getBuf(size)
	*plain = appendRequest((*plain)[:0], 0, h, items)
	sealed := getBuf(size + size/5 + 64) // S2's worst case (n + n/6 + 32) fits
	*sealed = protocol.Seal((*sealed)[:0], *plain, o)
	putBuf(plain)
	return sealed
}

// setFrameID patches the request ID of the frame at the front of b.
func setFrameID(b []byte, id uint64) { binary.LittleEndian.PutUint64(b[8:16], id) }
