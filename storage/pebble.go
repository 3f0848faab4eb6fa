package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/distridata/distridata/protocol"
)

// PebbleOptions tune the pebble engine. Zero fields take the defaults.
type PebbleOptions struct {
	// FS is the filesystem; nil = the operating system's. Tests inject
	// vfs.NewCrashableMem (power loss) or an error-injecting FS.
	FS vfs.FS
	// CacheSize is the block cache, in bytes; 0 = DefaultPebbleCache.
	CacheSize int64
	// MemTableSize is one memtable, in bytes; 0 = DefaultPebbleMemTable.
	MemTableSize uint64
	// Logger receives pebble's own messages; nil = slog.Default().
	Logger *slog.Logger
}

const (
	// DefaultPebbleCache: enough for the index and hot blocks of a
	// modest node without dominating a small machine's memory.
	DefaultPebbleCache = 64 << 20
	// DefaultPebbleMemTable is pebble's own default. Every write reads its
	// key first, and a memtable point lookup walks a skiplist with a cache
	// miss per level: measured here, 4 MiB applied batches of fresh keys
	// ~2.7x faster than 32 MiB (older keys are found via bloom filters).
	DefaultPebbleMemTable = 4 << 20
	// bloomBitsPerKey gives a ~1% false-positive rate for ~1.2 bytes per key.
	bloomBitsPerKey = 10
)

// Pebble is the durable engine: a pebble LSM with its write-ahead log on.
// Keys are stored as a 4-byte big-endian partition prefix followed by the
// key, so one partition is one contiguous, ordered range; values are a
// record header (version, tombstone flag) followed by the value. The one
// other key is the committed ring epoch (drop.go).
type Pebble struct {
	db    *pebble.DB
	fatal *fatalSink
	keys  atomic.Int64

	// mu serialises read-modify-write: Apply and CollectGarbage hold it
	// from their reads to their commit, so last-writer-wins is atomic per
	// key. Reads do not take it. keyBuf is scratch guarded by mu.
	mu     sync.Mutex
	keyBuf []byte
	closed atomic.Bool

	gcMu   sync.Mutex // serialises CollectGarbage calls; guards gcNext
	gcNext []byte     // where the next collection resumes; nil = the start
}

var _ PipelinedEngine = (*Pebble)(nil)

// OpenPebble opens (creating if needed) a pebble engine in dir. It counts
// the stored keys once, by a full scan, so Keys is exact from then on.
func OpenPebble(dir string, o PebbleOptions) (*Pebble, error) {
	if err := checkOpenSpace(o.FS, dir); err != nil {
		return nil, fmt.Errorf("cannot open pebble in %s: %w", dir, err)
	}
	sink := &fatalSink{log: o.Logger}
	if sink.log == nil {
		sink.log = slog.Default()
	}
	cache := pebble.NewCache(orDefault(o.CacheSize, DefaultPebbleCache))
	defer cache.Unref()
	opts := &pebble.Options{
		FS:                 o.FS,
		Cache:              cache,
		MemTableSize:       uint64(orDefault(int64(o.MemTableSize), DefaultPebbleMemTable)),
		DisableWAL:         false, // durability rests on the WAL
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             sink,
	}
	for i := range opts.Levels {
		// Every write reads its key first (last-writer-wins), and most new
		// keys are absent: bloom filters answer those without reading a
		// data block of every level.
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(bloomBitsPerKey)
	}
	opts.EnsureDefaults()
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot open pebble in %s: %w", dir, err)
	}
	p := &Pebble{db: db, fatal: sink}
	n, err := p.countKeys()
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("cannot count keys in %s: %w", dir, err)
	}
	p.keys.Store(n)
	return p, nil
}

func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// fatalSink is pebble's Logger. Pebble reports a failed WAL write or sync
// through Logger.Fatalf and then carries on as if the commit succeeded (its
// default Fatalf exits the process). We want fail-stop without exiting, so
// Fatalf records the error and every write checks it after committing.
type fatalSink struct {
	log        *slog.Logger
	err        atomic.Pointer[error]
	lastWarn   atomic.Int64 // when an Errorf was last logged, Unix ns
	suppressed atomic.Int64 // Errorf calls dropped since
}

// warnEvery bounds pebble's error messages to one a second: pebble retries
// a failed background job (a flush on a full disk) at once, and logging
// every retry wrote 1.4 GB in ten minutes, onto disks that may be full.
const warnEvery = time.Second

func (s *fatalSink) Infof(format string, args ...any) {
	s.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (s *fatalSink) Errorf(format string, args ...any) {
	now, last := time.Now().UnixNano(), s.lastWarn.Load()
	if now-last < int64(warnEvery) || !s.lastWarn.CompareAndSwap(last, now) {
		s.suppressed.Add(1)
		return
	}
	s.log.Warn("pebble: "+fmt.Sprintf(format, args...), "suppressed_since_last", s.suppressed.Swap(0))
}

// Fatalf records the first fatal error and logs it; later ones (pebble
// may repeat them in a retry loop) are rate-limited like Errorf.
func (s *fatalSink) Fatalf(format string, args ...any) {
	err := fmt.Errorf("pebble: "+format, args...)
	if !s.err.CompareAndSwap(nil, &err) {
		s.Errorf(format, args...)
		return
	}
	s.log.Error("pebble fatal error; the engine refuses all writes from now on", "err", err)
}

func (s *fatalSink) load() error {
	if p := s.err.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrFailed, *p)
	}
	return nil
}

// usable reports ErrClosed or the recorded fatal error.
func (p *Pebble) usable() error {
	if p.closed.Load() {
		return ErrClosed
	}
	return p.fatal.load()
}

// pebbleKey appends the stored key of (partition, key) to dst.
func pebbleKey(dst []byte, part uint32, key []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, part)
	return append(dst, key...)
}

// partitionBounds returns the key range [lower, upper) of partition p
// after the key after (exclusive). upper is nil for the last partition.
func partitionBounds(p uint32, after []byte) (lower, upper []byte) {
	lower = pebbleKey(nil, p, after)
	if len(after) > 0 {
		lower = append(lower, 0) // the smallest key greater than after
	}
	if p != ^uint32(0) {
		upper = pebbleKey(nil, p+1, nil)
	}
	return lower, upper
}

// getRecord reads and decodes the record at k from db or an indexed
// batch, copying its value (if want) into buf.
func getRecord(get func([]byte) ([]byte, closer, error), k, buf []byte, want bool) (Entry, bool, error) {
	rec, c, err := get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, err
	}
	defer c.Close()
	v, tomb, val, err := decodeRecord(rec)
	if err != nil {
		return Entry{}, false, err
	}
	e := Entry{Version: v, Tombstone: tomb}
	if want {
		e.Value = append(buf[:0], val...)
	}
	return e, true, nil
}

type closer = interface{ Close() error }

func dbGet(db *pebble.DB) func([]byte) ([]byte, closer, error) {
	return func(k []byte) ([]byte, closer, error) { return db.Get(k) }
}

// Apply implements Engine: one indexed pebble batch, so an op sees the
// ops before it in the same call, committed with one (synced) write.
func (p *Pebble) Apply(ops []Op, out []Outcome, sync bool) error {
	b, err := p.applyBatch(ops, out, sync, false)
	if b != nil {
		_ = b.Close()
	}
	return err
}

// ApplyPipelined implements PipelinedEngine with pebble's own split of a
// synced commit: ApplyNoSyncWait, then Batch.SyncWait.
func (p *Pebble) ApplyPipelined(ops []Op, out []Outcome) (func() error, error) {
	b, err := p.applyBatch(ops, out, true, true)
	if err != nil {
		if b != nil {
			_ = b.Close()
		}
		return nil, err
	}
	if b == nil { // every op lost by last-writer-wins: nothing to sync
		return func() error { return nil }, nil
	}
	return func() error {
		defer b.Close()
		if err := b.SyncWait(); err != nil {
			return fmt.Errorf("cannot sync batch: %w", err)
		}
		if err := p.fatal.load(); err != nil {
			return fmt.Errorf("cannot sync batch: %w", err)
		}
		return nil
	}, nil
}

// applyBatch stages ops by last-writer-wins into an indexed batch and
// commits it. It returns the batch (nil if nothing was written), which
// the caller closes, after SyncWait when noSyncWait.
func (p *Pebble) applyBatch(ops []Op, out []Outcome, sync, noSyncWait bool) (*pebble.Batch, error) {
	if err := p.usable(); err != nil {
		return nil, err
	}
	for i := range ops {
		if err := checkOp(&ops[i]); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.db.NewIndexedBatch()
	get := func(k []byte) ([]byte, closer, error) { return b.Get(k) }
	var added int64
	for i := range ops {
		isNew, err := p.stage(b, get, &ops[i], &out[i])
		if err != nil {
			return b, err
		}
		if isNew {
			added++
		}
	}
	if b.Empty() {
		_ = b.Close()
		return nil, nil
	}
	if err := p.commit(b, sync, noSyncWait); err != nil {
		return b, err
	}
	p.keys.Add(added)
	return b, nil
}

// stage decides one op by last-writer-wins and, if it wins, adds it to b.
func (p *Pebble) stage(b *pebble.Batch, get func([]byte) ([]byte, closer, error), op *Op, out *Outcome) (isNew bool, err error) {
	p.keyBuf = pebbleKey(p.keyBuf[:0], op.Partition, op.Key)
	cur, exists, err := getRecord(get, p.keyBuf, nil, false)
	if err != nil {
		return false, fmt.Errorf("cannot read stored version: %w", err)
	}
	if !wins(op.Version, cur.Version, exists) {
		*out = Outcome{Version: cur.Version, Tombstone: cur.Tombstone}
		return false, nil
	}
	tomb := op.Kind == OpDel
	var val []byte
	if !tomb {
		val = op.Value
	}
	d := b.SetDeferred(len(p.keyBuf), recordHeaderSize+len(val))
	copy(d.Key, p.keyBuf)
	appendRecordHeader(d.Value[:0], op.Version, tomb) // fills d.Value's header in place
	copy(d.Value[recordHeaderSize:], val)
	if err := d.Finish(); err != nil {
		return false, fmt.Errorf("cannot stage write: %w", err)
	}
	*out = Outcome{Applied: true, Version: op.Version, Tombstone: tomb}
	return !exists, nil
}

// commit applies b, synced or not, and turns a fatal pebble error (which
// pebble reports through its logger, not its return value) into an error.
func (p *Pebble) commit(b *pebble.Batch, sync, noSyncWait bool) error {
	wo := pebble.NoSync
	if sync {
		wo = pebble.Sync
	}
	apply := p.db.Apply
	if noSyncWait {
		apply = p.db.ApplyNoSyncWait
	}
	if err := apply(b, wo); err != nil {
		return fmt.Errorf("cannot commit batch: %w", err)
	}
	if err := p.fatal.load(); err != nil {
		return fmt.Errorf("cannot commit batch: %w", err)
	}
	return nil
}

// Get implements Engine. Value is appended to buf[:0].
func (p *Pebble) Get(part uint32, key, buf []byte) (Entry, bool, error) {
	if p.closed.Load() {
		return Entry{}, false, ErrClosed
	}
	var kb [64]byte
	e, ok, err := getRecord(dbGet(p.db), pebbleKey(kb[:0], part, key), buf, true)
	if err != nil {
		return Entry{}, false, fmt.Errorf("cannot get key: %w", err)
	}
	e.Key = key
	return e, ok, nil
}

// iterate calls fn for each record in [lower, upper) until fn says stop.
func (p *Pebble) iterate(lower, upper []byte, fn func(k []byte, e Entry) bool) error {
	if p.closed.Load() {
		return ErrClosed
	}
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("cannot open iterator: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		rec, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("cannot read value: %w", err)
		}
		v, tomb, val, err := decodeRecord(rec)
		if err != nil {
			_ = it.Close()
			return err
		}
		if !fn(it.Key(), Entry{Version: v, Tombstone: tomb, Value: val}) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("cannot iterate: %w", err)
	}
	return nil
}

// ScanPartition implements Engine.
func (p *Pebble) ScanPartition(part uint32, after []byte, limit int, fn func(Entry) bool) (bool, error) {
	return p.ScanBucket(part, protocol.Bucket{}, after, limit, fn)
}

// ScanBucket implements Engine: it reads the partition in key order and
// skips the keys outside b, so a page of a small bucket may read far.
func (p *Pebble) ScanBucket(part uint32, b protocol.Bucket, after []byte, limit int, fn func(Entry) bool) (bool, error) {
	if limit <= 0 {
		return false, nil
	}
	lower, upper := partitionBounds(part, after)
	n, more := 0, false
	err := p.iterate(lower, upper, func(k []byte, e Entry) bool {
		if b.Bits > 0 && !b.Contains(protocol.KeyHash(k[4:])) {
			return true
		}
		if n == limit {
			more = true
			return false
		}
		e.Key = k[4:]
		if !fn(e) {
			more = true
			return false
		}
		n++
		return true
	})
	return more, err
}

// Digest implements Engine.
func (p *Pebble) Digest(part uint32) (PartitionDigest, error) {
	lower, upper := partitionBounds(part, nil)
	var d PartitionDigest
	err := p.iterate(lower, upper, func(k []byte, e Entry) bool {
		d.Keys++
		d.Sum += entryHash(k[4:], e.Version, e.Tombstone)
		return true
	})
	return d, err
}

// Buckets implements Engine.
func (p *Pebble) Buckets(part uint32, b protocol.Bucket, split uint8, out []protocol.BucketDigest) error {
	clear(out)
	lower, upper := partitionBounds(part, nil)
	return p.iterate(lower, upper, func(k []byte, e Entry) bool {
		addToBucket(out, b, split, k[4:], e.Version, e.Tombstone)
		return true
	})
}

func (p *Pebble) countKeys() (int64, error) {
	var n int64
	err := p.iterate(dataStart, nil, func([]byte, Entry) bool { n++; return true })
	return n, err
}

// gcCandidate is an expired tombstone found by a GC scan.
type gcCandidate struct {
	key []byte
	v   protocol.Version
}

// CollectGarbage implements Engine: it scans for expired tombstones
// without the lock, then rechecks and deletes them under it. Each call
// resumes the scan where the previous one stopped (wrapping at the end),
// so a pass of calls reads the keyspace once rather than once per call.
func (p *Pebble) CollectGarbage(cutoff time.Time, limit int) (int, error) {
	if err := p.usable(); err != nil {
		return 0, err
	}
	p.gcMu.Lock()
	defer p.gcMu.Unlock()
	var cand []gcCandidate
	reachedEnd := true
	from := p.gcNext
	if from == nil {
		from = dataStart
	}
	err := p.iterate(from, nil, func(k []byte, e Entry) bool {
		if len(cand) == limit {
			reachedEnd = false
			p.gcNext = append(p.gcNext[:0], k...) // resume here next call
			return false
		}
		if e.Tombstone && expired(e.Version, cutoff) {
			cand = append(cand, gcCandidate{key: append([]byte(nil), k...), v: e.Version})
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if reachedEnd {
		p.gcNext = nil // the next call starts a new pass
	}
	if len(cand) == 0 {
		return 0, nil
	}
	return p.purge(cand)
}

func (p *Pebble) purge(cand []gcCandidate) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.db.NewBatch()
	defer b.Close()
	for _, c := range cand {
		cur, ok, err := getRecord(dbGet(p.db), c.key, nil, false)
		if err != nil {
			return 0, fmt.Errorf("cannot recheck tombstone: %w", err)
		}
		if ok && cur.Tombstone && cur.Version == c.v {
			if err := b.Delete(c.key, nil); err != nil {
				return 0, fmt.Errorf("cannot stage tombstone removal: %w", err)
			}
		}
	}
	n := int(b.Count())
	if n == 0 {
		return 0, nil
	}
	// Not synced: a lost removal only brings back an expired tombstone,
	// which the next pass removes again.
	if err := p.commit(b, false, false); err != nil {
		return 0, err
	}
	p.keys.Add(-int64(n))
	return n, nil
}

// Keys implements Engine.
func (p *Pebble) Keys() int64 { return p.keys.Load() }

// Sync implements Engine: it syncs the WAL, making every applied op
// durable.
func (p *Pebble) Sync() error {
	if err := p.usable(); err != nil {
		return err
	}
	if err := p.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("cannot sync wal: %w", err)
	}
	if err := p.fatal.load(); err != nil {
		return fmt.Errorf("cannot sync wal: %w", err)
	}
	return nil
}

// Close implements Engine. It is idempotent.
func (p *Pebble) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	p.mu.Lock() // wait for an Apply or GC in progress
	defer p.mu.Unlock()
	if err := p.db.Close(); err != nil {
		return fmt.Errorf("cannot close pebble: %w", err)
	}
	return nil
}
