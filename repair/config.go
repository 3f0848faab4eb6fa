package repair

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/distridata/distridata/protocol"
)

// Defaults, each with the reason for its value.
const (
	// DefaultHintMaxAge: a node down longer than this is probably being
	// replaced, and anti-entropy is cheaper than an ever-growing backlog.
	DefaultHintMaxAge = 3 * time.Hour
	// DefaultHintMaxBytes bounds the daemon's disk use for hints.
	DefaultHintMaxBytes = 256 << 20
	// DefaultHintQueue hints may wait in memory for the hint writer; a
	// burst beyond it (the writer's disk is slower than the miss rate) is
	// dropped and counted rather than blocking the write path.
	DefaultHintQueue = 8192
	// DefaultHintBatch hints share one synced Pebble commit.
	DefaultHintBatch = 512
	// DefaultReplayItemsPerSec and DefaultReplayBytesPerSec throttle
	// replay: a node that just came back also serves live traffic.
	DefaultReplayItemsPerSec = 2000
	DefaultReplayBytesPerSec = 8 << 20
	// DefaultBatchItems and DefaultBatchBytes bound one replay, repair or
	// copy request (an RBATCH).
	DefaultBatchItems = 128
	DefaultBatchBytes = 1 << 20
	// DefaultReplayInterval is how often the replayer looks for nodes that
	// have hints and are up.
	DefaultReplayInterval = 250 * time.Millisecond
	// DefaultTimeout bounds each request repair makes to a node.
	DefaultTimeout = 5 * time.Second
	// DefaultPartitionsPerSec: the background anti-entropy pass checks this
	// many partitions per second (3 RDIGESTs each): 65,536 partitions
	// take about 55 minutes, a few requests per second on each node.
	DefaultPartitionsPerSec = 20
	// DefaultRepairItemsPerSec and DefaultRepairBytesPerSec throttle the
	// keys anti-entropy writes.
	DefaultRepairItemsPerSec = 2000
	DefaultRepairBytesPerSec = 8 << 20
	// DefaultMoveItemsPerSec and DefaultMoveBytesPerSec throttle
	// rebalancing copies, which can be the whole data set of a node.
	DefaultMoveItemsPerSec = 20000
	DefaultMoveBytesPerSec = 32 << 20
	// DefaultScanPage keys per RSCAN page.
	DefaultScanPage = 1024
	// DefaultMaxScanKeys bounds the keys one anti-entropy repair step
	// merges in memory (about 100 bytes each, so ~400 KiB): a mismatching
	// bucket whose owners hold more is split further. Small, because the
	// keys of a step are also what crosses the network: a 4096-key bucket
	// costs ~160 KiB of scan per owner, an RBUCKETS split 4 KiB.
	DefaultMaxScanKeys = 4096
	// DefaultBucketSplit: each RBUCKETS cuts a bucket 2^8 = 256 ways, a
	// 4 KiB reply per owner, so a partition of a million keys per owner
	// reaches 4096-key buckets in one level and any size in a few.
	DefaultBucketSplit = 8
	// DefaultMoveRetries: a moving partition whose copy fails is retried
	// this many times, from the last key copied, before Move gives up.
	DefaultMoveRetries = 5
	// DefaultDropGrace: a moved partition is dropped from the nodes that
	// lost it this long after the ring change commits, time for anything
	// still on the old ring (a second daemon, a late hint) to notice.
	DefaultDropGrace = 10 * time.Minute
	// DefaultDropPartitionsPerSec paces drops: each is a range deletion
	// and a synced commit on one node, cheap but not free.
	DefaultDropPartitionsPerSec = 20
	// DefaultDropInterval is how often due drops and nodes that missed
	// an epoch commit are looked at.
	DefaultDropInterval = time.Second
	// DefaultWriteQuorum is W: a copy needs len(owners)-W+1 sources up to
	// be sure to see every acknowledged write.
	DefaultWriteQuorum = 2
)

// Config configures hinted handoff, anti-entropy and rebalancing. Rates are
// per second; a zero rate is invalid unless its comment says otherwise.
type Config struct {
	// Dir holds the hints DB. Empty disables hinted handoff (missed
	// owners are then left to anti-entropy).
	Dir string
	// HintMaxAge: hints older than this are dropped (and counted).
	HintMaxAge time.Duration
	// HintMaxBytes bounds the stored hints (keys and values) in bytes; a
	// hint that would exceed it is dropped and counted.
	HintMaxBytes int64
	// HintQueue is the number of hints waiting for the writer in memory.
	HintQueue int
	// HintBatch is the number of hints per synced commit.
	HintBatch int
	// ReplayItemsPerSec and ReplayBytesPerSec throttle hint replay.
	ReplayItemsPerSec, ReplayBytesPerSec float64
	// ReplayInterval is the replayer's polling period.
	ReplayInterval time.Duration
	// BatchItems and BatchBytes bound one request of replay, repair or copy.
	BatchItems, BatchBytes int
	// Timeout bounds each request to a node.
	Timeout time.Duration
	// PartitionsPerSec paces the background anti-entropy pass; zero
	// disables it (passes then run only on demand).
	PartitionsPerSec float64
	// RepairItemsPerSec and RepairBytesPerSec throttle anti-entropy writes.
	RepairItemsPerSec, RepairBytesPerSec float64
	// MoveItemsPerSec and MoveBytesPerSec throttle rebalancing copies.
	MoveItemsPerSec, MoveBytesPerSec float64
	// ScanPage is the RSCAN page size, in keys (at most 65535).
	ScanPage int
	// MaxScanKeys bounds the distinct keys one anti-entropy repair step
	// holds in memory, whatever the partition's size; bigger mismatching
	// buckets are split further (see BucketSplit).
	MaxScanKeys int
	// BucketSplit: each RBUCKETS splits a mismatching bucket into
	// 2^BucketSplit sub-buckets (1..protocol.MaxBucketSplit).
	BucketSplit int
	// MoveRetries is the number of retries of a failing partition copy.
	MoveRetries int
	// WriteQuorum is the daemon's W (see DefaultWriteQuorum).
	WriteQuorum int
	// DropGrace is how long after a ring change the moved partitions are
	// dropped from the nodes that lost them. Zero drops at once.
	DropGrace time.Duration
	// DropPartitionsPerSec throttles drops.
	DropPartitionsPerSec float64
	// DropInterval is the period of the drop and re-fence loop.
	DropInterval time.Duration
	// Logger receives progress and failures; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults above, with hints disabled (no Dir).
func DefaultConfig() Config {
	return Config{
		HintMaxAge:           DefaultHintMaxAge,
		HintMaxBytes:         DefaultHintMaxBytes,
		HintQueue:            DefaultHintQueue,
		HintBatch:            DefaultHintBatch,
		ReplayItemsPerSec:    DefaultReplayItemsPerSec,
		ReplayBytesPerSec:    DefaultReplayBytesPerSec,
		ReplayInterval:       DefaultReplayInterval,
		BatchItems:           DefaultBatchItems,
		BatchBytes:           DefaultBatchBytes,
		Timeout:              DefaultTimeout,
		PartitionsPerSec:     DefaultPartitionsPerSec,
		RepairItemsPerSec:    DefaultRepairItemsPerSec,
		RepairBytesPerSec:    DefaultRepairBytesPerSec,
		MoveItemsPerSec:      DefaultMoveItemsPerSec,
		MoveBytesPerSec:      DefaultMoveBytesPerSec,
		ScanPage:             DefaultScanPage,
		MaxScanKeys:          DefaultMaxScanKeys,
		BucketSplit:          DefaultBucketSplit,
		MoveRetries:          DefaultMoveRetries,
		WriteQuorum:          DefaultWriteQuorum,
		DropGrace:            DefaultDropGrace,
		DropPartitionsPerSec: DefaultDropPartitionsPerSec,
		DropInterval:         DefaultDropInterval,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	bad := func(f string, v any) error { return fmt.Errorf("%w: %s=%v", ErrConfig, f, v) }
	switch {
	case c.HintMaxAge <= 0:
		return bad("HintMaxAge", c.HintMaxAge)
	case c.HintMaxBytes <= 0:
		return bad("HintMaxBytes", c.HintMaxBytes)
	case c.HintQueue < 1:
		return bad("HintQueue", c.HintQueue)
	case c.HintBatch < 1:
		return bad("HintBatch", c.HintBatch)
	case c.ReplayItemsPerSec <= 0 || c.ReplayBytesPerSec <= 0:
		return bad("ReplayItemsPerSec/ReplayBytesPerSec", [2]float64{c.ReplayItemsPerSec, c.ReplayBytesPerSec})
	case c.ReplayInterval <= 0:
		return bad("ReplayInterval", c.ReplayInterval)
	case c.BatchItems < 1 || c.BatchItems > 1<<16-1 || c.BatchBytes < 1:
		return bad("BatchItems/BatchBytes", [2]int{c.BatchItems, c.BatchBytes})
	case c.Timeout <= 0:
		return bad("Timeout", c.Timeout)
	case c.PartitionsPerSec < 0:
		return bad("PartitionsPerSec", c.PartitionsPerSec)
	case c.RepairItemsPerSec <= 0 || c.RepairBytesPerSec <= 0:
		return bad("RepairItemsPerSec/RepairBytesPerSec", [2]float64{c.RepairItemsPerSec, c.RepairBytesPerSec})
	case c.MoveItemsPerSec <= 0 || c.MoveBytesPerSec <= 0:
		return bad("MoveItemsPerSec/MoveBytesPerSec", [2]float64{c.MoveItemsPerSec, c.MoveBytesPerSec})
	case c.ScanPage < 1 || c.ScanPage > 1<<16-1:
		return bad("ScanPage", c.ScanPage)
	case c.MaxScanKeys < 1:
		return bad("MaxScanKeys", c.MaxScanKeys)
	case c.BucketSplit < 1 || c.BucketSplit > protocol.MaxBucketSplit:
		return bad("BucketSplit", c.BucketSplit)
	case c.MoveRetries < 0:
		return bad("MoveRetries", c.MoveRetries)
	case c.WriteQuorum < 1:
		return bad("WriteQuorum", c.WriteQuorum)
	case c.DropGrace < 0:
		return bad("DropGrace", c.DropGrace)
	case c.DropPartitionsPerSec <= 0:
		return bad("DropPartitionsPerSec", c.DropPartitionsPerSec)
	case c.DropInterval <= 0:
		return bad("DropInterval", c.DropInterval)
	}
	return nil
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
