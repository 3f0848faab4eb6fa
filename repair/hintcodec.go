package repair

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/distridata/distridata/protocol"
)

// A hint is stored under key
//
//	node length u16 | node | partition u32 (big endian) | key
//
// so one node's hints are one key range (replay iterates it) and a newer
// hint for the same (node, partition, key) replaces the older. The value:
//
//	kind u8 | version ts u64 | version origin u32 | stored at (unix ns) i64 | value
//
// Big-endian partition keeps a node's hints in partition order.

const hintValueHeader = 1 + 8 + 4 + 8

var errBadHint = errors.New("repair: malformed hint record")

// hint is one decoded hint; its byte slices are owned by whoever built it.
type hint struct {
	node string
	it   protocol.Item
	at   time.Time
}

func nodePrefix(node string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(node)))
	return append(b, node...)
}

func hintKey(node string, p uint32, key []byte) []byte {
	b := make([]byte, 0, 2+len(node)+4+len(key))
	b = binary.BigEndian.AppendUint16(b, uint16(len(node)))
	b = append(b, node...)
	b = binary.BigEndian.AppendUint32(b, p)
	return append(b, key...)
}

// prefixEnd is the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // no upper bound
}

func encodeHintValue(h *hint) []byte {
	b := make([]byte, 0, hintValueHeader+len(h.it.Value))
	b = append(b, byte(h.it.Kind))
	b = binary.BigEndian.AppendUint64(b, h.it.Version.TS)
	b = binary.BigEndian.AppendUint32(b, h.it.Version.Origin)
	b = binary.BigEndian.AppendUint64(b, uint64(h.at.UnixNano()))
	return append(b, h.it.Value...)
}

// decodeHint parses a stored record; the result aliases k and v.
func decodeHint(k, v []byte) (hint, error) {
	if len(k) < 2 {
		return hint{}, errBadHint
	}
	n := int(binary.BigEndian.Uint16(k))
	if len(k) < 2+n+4 || len(v) < hintValueHeader {
		return hint{}, errBadHint
	}
	h := hint{node: string(k[2 : 2+n])}
	h.it.Partition = binary.BigEndian.Uint32(k[2+n:])
	h.it.Key = k[2+n+4:]
	h.it.Kind = protocol.ItemKind(v[0])
	if h.it.Kind != protocol.ItemPut && h.it.Kind != protocol.ItemDel {
		return hint{}, errBadHint
	}
	h.it.Version = protocol.Version{TS: binary.BigEndian.Uint64(v[1:]), Origin: binary.BigEndian.Uint32(v[9:])}
	h.at = time.Unix(0, int64(binary.BigEndian.Uint64(v[13:])))
	if h.it.Kind == protocol.ItemPut {
		h.it.Value = v[hintValueHeader:]
	}
	return h, nil
}

// versionOf reads only the version of a stored record.
func versionOf(v []byte) (protocol.Version, bool) {
	if len(v) < hintValueHeader {
		return protocol.Version{}, false
	}
	return protocol.Version{TS: binary.BigEndian.Uint64(v[1:]), Origin: binary.BigEndian.Uint32(v[9:])}, true
}
