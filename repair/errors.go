package repair

import "errors"

// Sentinel errors of package repair.
var (
	// ErrConfig: a Config field is out of range.
	ErrConfig = errors.New("repair: invalid config")
	// ErrClosed: the component is closed.
	ErrClosed = errors.New("repair: closed")
	// ErrBadReply: a node answered with a result count that does not match
	// the request.
	ErrBadReply = errors.New("repair: malformed reply")
	// ErrTooManyKeys: more than Config.MaxScanKeys keys of a partition
	// share one 64-bit key hash, so no bucket split can make a step small
	// enough to merge in memory.
	ErrTooManyKeys = errors.New("repair: partition has too many keys to compare")
	// ErrTooFewSources: too few current owners of a moving partition are
	// up to be sure that every acknowledged write is copied.
	ErrTooFewSources = errors.New("repair: too few source owners up")
	// ErrNotAcked: a target owner did not acknowledge a repair or copy.
	ErrNotAcked = errors.New("repair: write not acknowledged")
)
