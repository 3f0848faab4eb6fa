package daemon

import (
	"context"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// Store is what the front end needs from the replication core. It is
// satisfied by *replica.Coordinator; tests of the front end plug in a fake.
//
// A quorum of 0 means the store's default (W for writes, R for reads); a
// quorum outside 0..N is protocol.ErrBadQuorum. Errors are turned into
// wire statuses by protocol.StatusOf only. Every method may be called from
// many goroutines at once and must return by ctx's deadline.
type Store interface {
	Put(ctx context.Context, key, value []byte, w int) (protocol.Version, error)
	Del(ctx context.Context, key []byte, w int) (protocol.Version, error)
	// Get returns the newest value; the value is owned by the caller.
	Get(ctx context.Context, key []byte, r int) ([]byte, protocol.Version, error)
	// MPut and MGet fill out[i] with the result of item i; len(out) equals
	// the number of items. MGet values in out are owned by the caller.
	MPut(ctx context.Context, kvs []protocol.KV, w int, out []protocol.ItemStatus)
	MGet(ctx context.Context, keys [][]byte, r int, out []protocol.ItemStatus)
}

// asyncStore is a Store that can also start PUT, DEL and GET without
// waiting (*replica.Coordinator; see replica.Done for the contract). The
// front end then starts those on its loop and queues each reply from the
// callback that decides it, so no goroutine waits per request; MPUT and
// MGET, and every request of a Store without these methods, still run on
// a worker goroutine (workers.go). The calls never block, and ctx is
// asked only for Err (and, by a send that waits off the loop, Done).
type asyncStore interface {
	StartPut(ctx context.Context, dl time.Time, key, value []byte, w int, done replica.Done)
	StartDel(ctx context.Context, dl time.Time, key []byte, w int, done replica.Done)
	StartGet(ctx context.Context, dl time.Time, key []byte, r int, done replica.Done)
}
