package protocol

import "fmt"

// Defaults for Limits. They bound what one frame can make a peer buffer.
const (
	// DefaultMaxFrameSize leaves room for a value of DefaultMaxValueSize
	// plus its key and header, or a batch of many small items.
	DefaultMaxFrameSize = 16 << 20
	// DefaultMaxPreAuthFrameSize is the limit before HELLO succeeds: a
	// HELLO with a long token fits; a 1 GiB length prefix from a stranger
	// is refused from the header alone.
	DefaultMaxPreAuthFrameSize = 1 << 10
	// DefaultMaxKeySize: keys are identifiers, not payloads.
	DefaultMaxKeySize = 1 << 10
	// DefaultMaxValueSize: large enough for documents and small blobs;
	// larger objects belong in an object store.
	DefaultMaxValueSize = 8 << 20
	// DefaultMaxBatchKeys bounds MPUT/MGET and replica batches so that
	// one frame cannot fan out into unbounded work.
	DefaultMaxBatchKeys = 1024
	// MaxTokenSize bounds the HELLO auth token.
	MaxTokenSize = 512
)

// Limits are the sizes a peer enforces on what it receives. A HELLO reply
// advertises them so clients can stay inside.
type Limits struct {
	MaxFrameSize        int // bytes, header included; > MaxPreAuthFrameSize
	MaxPreAuthFrameSize int // bytes, header included, before HELLO succeeds
	MaxKeySize          int // bytes; at most 65535 (u16 length field)
	MaxValueSize        int // bytes; below MaxFrameSize
	MaxBatchKeys        int // items per MPUT/MGET/replica batch; at most 65535
}

// DefaultLimits returns the limits used when nothing is configured.
func DefaultLimits() Limits {
	return Limits{
		MaxFrameSize:        DefaultMaxFrameSize,
		MaxPreAuthFrameSize: DefaultMaxPreAuthFrameSize,
		MaxKeySize:          DefaultMaxKeySize,
		MaxValueSize:        DefaultMaxValueSize,
		MaxBatchKeys:        DefaultMaxBatchKeys,
	}
}

// Validate reports the first inconsistent limit.
func (l Limits) Validate() error {
	switch {
	case l.MaxPreAuthFrameSize < HeaderSize+64:
		return fmt.Errorf("protocol: MaxPreAuthFrameSize %d is below %d", l.MaxPreAuthFrameSize, HeaderSize+64)
	case l.MaxFrameSize < l.MaxPreAuthFrameSize || l.MaxFrameSize > 1<<30:
		return fmt.Errorf("protocol: MaxFrameSize %d must be in [MaxPreAuthFrameSize, 1GiB]", l.MaxFrameSize)
	case l.MaxKeySize < 1 || l.MaxKeySize > 0xFFFF:
		return fmt.Errorf("protocol: MaxKeySize %d must be in [1, 65535]", l.MaxKeySize)
	case l.MaxValueSize < 0 || l.MaxValueSize+l.MaxKeySize+64 > l.MaxFrameSize:
		return fmt.Errorf("protocol: MaxValueSize %d must fit in MaxFrameSize %d with its key", l.MaxValueSize, l.MaxFrameSize)
	case l.MaxBatchKeys < 1 || l.MaxBatchKeys > 0xFFFF:
		return fmt.Errorf("protocol: MaxBatchKeys %d must be in [1, 65535]", l.MaxBatchKeys)
	}
	return nil
}

// CheckKey reports ErrEmptyKey or ErrKeyTooLarge.
func (l Limits) CheckKey(k []byte) error {
	if len(k) == 0 {
		return ErrEmptyKey
	}
	if len(k) > l.MaxKeySize {
		return ErrKeyTooLarge
	}
	return nil
}

// CheckValue reports ErrValueTooLarge.
func (l Limits) CheckValue(v []byte) error {
	if len(v) > l.MaxValueSize {
		return ErrValueTooLarge
	}
	return nil
}

// CheckBatch reports ErrBatchTooLarge for a batch of n items; an empty
// batch is malformed.
func (l Limits) CheckBatch(n int) error {
	if n == 0 {
		return ErrMalformed
	}
	if n > l.MaxBatchKeys {
		return ErrBatchTooLarge
	}
	return nil
}
