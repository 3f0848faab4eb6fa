package ring

import "errors"

// Sentinel errors. Callers branch with errors.Is; the messages gain context
// ("cannot build ring: ...") where they are returned.
var (
	ErrNoNodes      = errors.New("ring: no nodes")
	ErrEmptyID      = errors.New("ring: empty node ID")
	ErrBadToken     = errors.New("ring: ID, address or zone contains whitespace or '#'")
	ErrDuplicateID  = errors.New("ring: duplicate node ID")
	ErrBadWeight    = errors.New("ring: weight must be finite and in [1e-6, 1e6]")
	ErrTooFewNodes  = errors.New("ring: fewer nodes than replicas")
	ErrTooManyNodes = errors.New("ring: more than 65535 nodes")
	ErrPartitions   = errors.New("ring: partitions must be a power of two in [1, 2^20]")
	ErrReplicas     = errors.New("ring: replicas must be in [1, 16]")
	ErrSlack        = errors.New("ring: slack must be in [0, 1]")
	ErrRule         = errors.New("ring: unknown placement rule")
	ErrUnknownNode  = errors.New("ring: unknown node ID")
	ErrSyntax       = errors.New("ring: bad membership line")
	ErrTable        = errors.New("ring: saved table does not fit the membership")
)
