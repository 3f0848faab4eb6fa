package protocol

import (
	"errors"
	"fmt"
)

// The helpers in this file turn any frame body into one plain Go value
// (iterators drained into slices) and back into bytes. Round-trip tests,
// fuzz targets and the golden vectors all share them, so one definition of
// "what a body means" is checked from three sides.

// emptyBody is a reply refused before processing: a status and no body.
type emptyBody struct{}

// rawBody is an opaque body: PING payloads and STATS text.
type rawBody []byte

type mputBody struct {
	Options
	Items []KV
}

type mgetBody struct {
	Options
	Keys [][]byte
}

type batchReplyBody struct{ Items []ItemStatus }

type replicaOpBody struct {
	ReplicaHeader
	Item Item
}

type replicaBatchBody struct {
	ReplicaHeader
	Items []Item
}

type replicaReplyBody struct {
	ReplicaStamp
	Result Result
}

type replicaBatchReplyBody struct {
	ReplicaStamp
	Results []Result
}

type bucketsReplyBody struct {
	ReplicaStamp
	Buckets []BucketDigest
}

type scanReplyBody struct {
	ReplicaStamp
	More    bool
	Entries []ScanEntry
}

// errCount means an iterator yielded a different number of items than the
// decoded Count: a codec bug, never a property of the input.
var errCount = errors.New("iterator count differs from Count")

// decodeBody decodes the (opened) body of a frame with header h.
func decodeBody(h Header, body []byte) (any, error) {
	if h.Flags&FlagReply != 0 {
		return decodeReplyBody(h, body)
	}
	return decodeRequestBody(h.Op, body)
}

func decodeRequestBody(op Opcode, body []byte) (any, error) {
	switch op {
	case OpHello:
		return DecodeHello(body)
	case OpPing:
		return rawBody(body), nil
	case OpStats:
		if len(body) != 0 {
			return nil, ErrMalformed
		}
		return emptyBody{}, nil
	case OpPut:
		return DecodePut(body)
	case OpGet, OpDel:
		return DecodeKeyRequest(body)
	case OpMPut:
		return decodeMPut(body)
	case OpMGet:
		return decodeMGet(body)
	case OpReplicaPut, OpReplicaGet, OpReplicaDel:
		h, it, err := DecodeReplicaOp(op, body)
		return replicaOpBody{h, it}, err
	case OpReplicaBatch:
		return decodeReplicaBatch(body)
	case OpReplicaScan, OpReplicaBucketScan:
		return DecodeScan(op, body)
	case OpReplicaDigest:
		return DecodeDigest(body)
	case OpReplicaEpoch:
		return DecodeEpochCommit(body)
	case OpReplicaDrop:
		return DecodeDrop(body)
	case OpReplicaBuckets:
		return DecodeBuckets(body)
	}
	return nil, ErrUnknownOpcode
}

// emptyOK lists the replies whose decoders take an empty body as "refused
// before processing" whatever the status.
func emptyOK(op Opcode) bool {
	switch op {
	case OpPut, OpDel, OpGet, OpReplicaPut, OpReplicaGet, OpReplicaDel:
		return true
	}
	return false
}

// stampedRefusal: REPOCH and RDROP refused for their epoch still carry
// their body, so the sender learns the node's epoch.
func stampedRefusal(h Header) bool {
	return (h.Op == OpReplicaEpoch || h.Op == OpReplicaDrop) && h.Status == StatusWrongEpoch
}

func decodeReplyBody(h Header, body []byte) (any, error) {
	switch {
	case h.Op == OpPing || h.Op == OpStats:
		return rawBody(body), nil
	case len(body) == 0 && (h.Status != StatusOK || emptyOK(h.Op)):
		return emptyBody{}, nil
	case h.Status != StatusOK && !emptyOK(h.Op) && !stampedRefusal(h):
		// A refused HELLO or batch has an empty body, nothing else.
		return nil, ErrMalformed
	}
	switch h.Op {
	case OpHello:
		return DecodeHelloReply(body)
	case OpPut, OpDel:
		return DecodeWriteReply(body)
	case OpGet:
		return DecodeGetReply(body)
	case OpMPut, OpMGet:
		return decodeBatchReply(h.Op, body)
	case OpReplicaPut, OpReplicaGet, OpReplicaDel:
		st, r, err := DecodeReplicaReply(h, body)
		return replicaReplyBody{st, r}, err
	case OpReplicaBatch:
		return decodeReplicaBatchReply(body)
	case OpReplicaScan, OpReplicaBucketScan:
		return decodeScanReply(body)
	case OpReplicaDigest:
		return DecodeDigestReply(body)
	case OpReplicaEpoch:
		return DecodeEpochReply(body)
	case OpReplicaDrop:
		return DecodeDropReply(body)
	case OpReplicaBuckets:
		return decodeBucketsReply(body)
	}
	return nil, ErrUnknownOpcode
}

func decodeMPut(body []byte) (any, error) {
	b, err := DecodeMPut(body)
	if err != nil {
		return nil, err
	}
	out := mputBody{Options: b.Options}
	for kv, ok := b.Next(); ok; kv, ok = b.Next() {
		out.Items = append(out.Items, kv)
	}
	return out, checkCount(b.Count, len(out.Items))
}

func decodeMGet(body []byte) (any, error) {
	b, err := DecodeMGet(body)
	if err != nil {
		return nil, err
	}
	out := mgetBody{Options: b.Options}
	for kv, ok := b.Next(); ok; kv, ok = b.Next() {
		if kv.Value != nil {
			return nil, fmt.Errorf("MGET item with a value: %w", errCount)
		}
		out.Keys = append(out.Keys, kv.Key)
	}
	return out, checkCount(b.Count, len(out.Keys))
}

func decodeBatchReply(op Opcode, body []byte) (any, error) {
	r, err := DecodeBatchReply(op, body)
	if err != nil {
		return nil, err
	}
	var out batchReplyBody
	for it, ok := r.Next(); ok; it, ok = r.Next() {
		out.Items = append(out.Items, it)
	}
	return out, checkCount(r.Count, len(out.Items))
}

func decodeReplicaBatch(body []byte) (any, error) {
	b, err := DecodeReplicaBatch(body)
	if err != nil {
		return nil, err
	}
	out := replicaBatchBody{ReplicaHeader: b.ReplicaHeader}
	for it, ok := b.Next(); ok; it, ok = b.Next() {
		out.Items = append(out.Items, it)
	}
	return out, checkCount(b.Count, len(out.Items))
}

func decodeReplicaBatchReply(body []byte) (any, error) {
	r, err := DecodeReplicaBatchReply(body)
	if err != nil {
		return nil, err
	}
	out := replicaBatchReplyBody{ReplicaStamp: r.ReplicaStamp}
	for res, ok := r.Next(); ok; res, ok = r.Next() {
		out.Results = append(out.Results, res)
	}
	return out, checkCount(r.Count, len(out.Results))
}

func decodeScanReply(body []byte) (any, error) {
	r, err := DecodeScanReply(body)
	if err != nil {
		return nil, err
	}
	out := scanReplyBody{ReplicaStamp: r.ReplicaStamp, More: r.More}
	for e, ok := r.Next(); ok; e, ok = r.Next() {
		out.Entries = append(out.Entries, e)
	}
	return out, checkCount(r.Count, len(out.Entries))
}

func decodeBucketsReply(body []byte) (any, error) {
	r, err := DecodeBucketsReply(body)
	if err != nil {
		return nil, err
	}
	out := bucketsReplyBody{ReplicaStamp: r.ReplicaStamp, Buckets: []BucketDigest{}}
	for i := range r.Count {
		out.Buckets = append(out.Buckets, r.At(i))
	}
	return out, nil
}

func checkCount(count, got int) error {
	if count != got {
		return fmt.Errorf("Count %d, iterated %d: %w", count, got, errCount)
	}
	return nil
}

// encodeFrame is the inverse of decodeBody: it encodes v with the public
// encoders as a plain frame with h's opcode, ID and status. Decoding is
// canonical (every field has one encoding, trailing bytes are refused), so
// encodeFrame(h, decodeBody(h, body)) must reproduce body exactly.
func encodeFrame(dst []byte, h Header, v any) []byte {
	id := h.ID
	switch v := v.(type) {
	case emptyBody:
		if h.Flags&FlagReply == 0 {
			return AppendStats(dst, id)
		}
		return AppendStatusReply(dst, h.Op, id, h.Status)
	case rawBody:
		if h.Flags&FlagReply == 0 {
			return AppendPing(dst, id, v)
		}
		return AppendBodyReply(dst, h.Op, id, h.Status, v)
	case Hello:
		return AppendHello(dst, id, v)
	case HelloReply:
		return AppendHelloReply(dst, id, v)
	case Put:
		return AppendPut(dst, id, v)
	case KeyRequest:
		if h.Op == OpDel {
			return AppendDel(dst, id, v)
		}
		return AppendGet(dst, id, v)
	case WriteReply:
		return AppendWriteReply(dst, h.Op, id, h.Status, v.Version)
	case GetReply:
		return AppendGetReply(dst, id, h.Status, v)
	case mputBody:
		return AppendMPut(dst, id, v.Options, v.Items)
	case mgetBody:
		return AppendMGet(dst, id, v.Options, v.Keys)
	case batchReplyBody:
		w := BeginBatchReply(dst, h.Op, id, len(v.Items))
		for _, it := range v.Items {
			w.Add(it)
		}
		return w.Finish()
	}
	return encodeReplicaFrame(dst, h, v)
}

func encodeReplicaFrame(dst []byte, h Header, v any) []byte {
	id := h.ID
	switch v := v.(type) {
	case replicaOpBody:
		return AppendReplicaOp(dst, id, v.ReplicaHeader, v.Item)
	case replicaBatchBody:
		w := BeginReplicaBatch(dst, id, v.ReplicaHeader)
		for _, it := range v.Items {
			w.Add(it)
		}
		return w.Finish()
	case replicaReplyBody:
		return AppendReplicaReply(dst, h.Op, id, v.ReplicaStamp, v.Result)
	case replicaBatchReplyBody:
		w := BeginReplicaBatchReply(dst, id)
		for _, r := range v.Results {
			w.Add(r)
		}
		return w.Finish(v.ReplicaStamp)
	case EpochCommit:
		return AppendEpochCommit(dst, id, v)
	case EpochReply:
		return AppendEpochReply(dst, id, h.Status, v)
	case Drop:
		return AppendDrop(dst, id, v)
	case DropReply:
		return AppendDropReply(dst, id, h.Status, v)
	case Scan:
		return AppendScan(dst, id, v)
	case scanReplyBody:
		w := BeginScanReply(dst, h.Op, id)
		for _, e := range v.Entries {
			w.Add(e)
		}
		return w.Finish(v.ReplicaStamp, v.More)
	case Digest:
		return AppendDigest(dst, id, v)
	case DigestReply:
		return AppendDigestReply(dst, id, v)
	case Buckets:
		return AppendBuckets(dst, id, v)
	case bucketsReplyBody:
		return AppendBucketsReply(dst, id, v.ReplicaStamp, v.Buckets)
	}
	panic(fmt.Sprintf("encodeFrame: no encoder for %T", v))
}
