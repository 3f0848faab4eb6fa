package storage

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// openHeadroom is the free space, beyond the write-ahead log to replay,
// that opening needs: a new MANIFEST, an OPTIONS file and the first
// blocks of a new WAL. A flush of the replayed WAL writes about what the
// WAL holds (the same records, compressed), so WAL size + headroom is
// enough to open.
const openHeadroom = 1 << 20

// checkOpenSpace refuses to open dir when its filesystem cannot hold the
// flush of the WAL that pebble.Open replays. Open waits for that flush and
// retries a failed one at once, forever: a node restarted on a full disk
// would hang in Open, deaf to SIGTERM, logging an error per millisecond.
// Failing fast with a clear message instead lets an operator or a
// supervisor start it again once space is freed.
func checkOpenSpace(fs vfs.FS, dir string) error {
	if fs == nil {
		fs = vfs.Default
	}
	names, err := fs.List(dir)
	if err != nil {
		return nil // a new directory: nothing to replay; Open reports real errors
	}
	var wal uint64
	for _, n := range names {
		if !strings.HasSuffix(n, ".log") {
			continue
		}
		if fi, err := fs.Stat(fs.PathJoin(dir, n)); err == nil {
			wal += uint64(fi.Size())
		}
	}
	du, err := fs.GetDiskUsage(dir)
	if err != nil {
		return nil // not measurable (an in-memory filesystem)
	}
	if need := wal + openHeadroom; du.AvailBytes < need {
		return fmt.Errorf("%w: %d bytes free in %s, replaying its write-ahead log (%d bytes) needs at least %d; free space, then start again",
			ErrNoSpace, du.AvailBytes, dir, wal, need)
	}
	return nil
}
