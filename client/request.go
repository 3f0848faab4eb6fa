package client

import (
	"github.com/distridata/distridata/protocol"
)

// Wire sizes used to compute a frame's size before encoding it, so that
// limits are checked and the writer's room reserved without a trial
// encode.
const (
	optionsSize = 5 // quorum u8 + deadline_ms u32
	len16       = 2
	len32       = 4
	countSize   = 2
	crcSize     = 4 // a sealed frame may carry a CRC-32C
)

// request is one client request before encoding. It lives on the caller's
// stack; the fields alias the caller's slices until enqueue copies them.
type request struct {
	op    protocol.Opcode
	opts  protocol.Options
	key   []byte
	value []byte
	kvs   []protocol.KV
	keys  [][]byte
}

// size is the encoded size of the plain frame, header included.
func (r *request) size() int {
	n := protocol.HeaderSize
	switch r.op {
	case protocol.OpPut:
		n += optionsSize + len16 + len(r.key) + len32 + len(r.value)
	case protocol.OpGet, protocol.OpDel:
		n += optionsSize + len16 + len(r.key)
	case protocol.OpMPut:
		n += optionsSize + countSize
		for _, kv := range r.kvs {
			n += len16 + len(kv.Key) + len32 + len(kv.Value)
		}
	case protocol.OpMGet:
		n += optionsSize + countSize
		for _, k := range r.keys {
			n += len16 + len(k)
		}
	}
	return n
}

// append encodes the frame with request ID id.
func (r *request) append(dst []byte, id uint64) []byte {
	switch r.op {
	case protocol.OpPut:
		return protocol.AppendPut(dst, id, protocol.Put{Options: r.opts, Key: r.key, Value: r.value})
	case protocol.OpGet:
		return protocol.AppendGet(dst, id, protocol.KeyRequest{Options: r.opts, Key: r.key})
	case protocol.OpDel:
		return protocol.AppendDel(dst, id, protocol.KeyRequest{Options: r.opts, Key: r.key})
	case protocol.OpMPut:
		return protocol.AppendMPut(dst, id, r.opts, r.kvs)
	case protocol.OpMGet:
		return protocol.AppendMGet(dst, id, r.opts, r.keys)
	case protocol.OpPing:
		return protocol.AppendPing(dst, id, nil)
	default:
		return protocol.AppendStats(dst, id)
	}
}

// check refuses, before anything is sent, a request the server would
// refuse by its advertised limits. The encoders truncate oversize length
// fields, so this check is also what keeps the stream well formed.
func (r *request) check(l protocol.Limits) error {
	if err := r.checkFields(l); err != nil {
		return err
	}
	if r.size()+crcSize > l.MaxFrameSize {
		return protocol.ErrFrameTooLarge
	}
	return nil
}

func (r *request) checkFields(l protocol.Limits) error {
	switch r.op {
	case protocol.OpPut:
		return checkKV(l, r.key, r.value)
	case protocol.OpGet, protocol.OpDel:
		return l.CheckKey(r.key)
	case protocol.OpMPut:
		if err := l.CheckBatch(len(r.kvs)); err != nil {
			return err
		}
		for _, kv := range r.kvs {
			if err := checkKV(l, kv.Key, kv.Value); err != nil {
				return err
			}
		}
	case protocol.OpMGet:
		if err := l.CheckBatch(len(r.keys)); err != nil {
			return err
		}
		for _, k := range r.keys {
			if err := l.CheckKey(k); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkKV(l protocol.Limits, k, v []byte) error {
	if err := l.CheckKey(k); err != nil {
		return err
	}
	return l.CheckValue(v)
}
