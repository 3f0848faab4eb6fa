package repair

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/distridata/distridata/protocol"
)

// A partition repair narrows the mismatch down through hash buckets
// (protocol/bucket.go) until a differing bucket is small enough for one
// step: then it scans that bucket on every owner (keys and versions, no
// values), merges, and for each key whose newest version some owner lacks,
// fetches the value from an owner that has it and writes it, versioned, to
// the others. A step holds at most Config.MaxScanKeys distinct keys (plus
// the scan page being read), whatever the partition's size; buckets whose
// digests agree are never scanned.

// held is what one owner stores for a key.
type held struct {
	version protocol.Version
	tomb    bool
	has     bool
}

// fix is one key some owners lack.
type fix struct {
	key     string
	version protocol.Version
	tomb    bool
	src     int   // an owner holding the newest version
	lack    []int // owners with an older version or none
	value   []byte
	fetched bool
}

// errStepFull: a bucket holds more keys than one step may (it grew since
// its digest, or its owners hold different keys): split it further.
var errStepFull = errors.New("repair: bucket over the step's key cap")

// partRepair is the repair of one partition: where it is, and what it
// has written so far.
type partRepair struct {
	a      *AntiEntropy
	at     protocol.ReplicaHeader // the ring the partition is repaired under
	p      uint32
	owners []string
	rep    Report // Keys, Bytes, Scanned, PeakKeys
}

// repair repairs partition p, whose owners hold counts[i] entries each.
func (a *AntiEntropy) repair(ctx context.Context, at protocol.ReplicaHeader, p uint32, owners []string, counts []uint64) (Report, error) {
	r := &partRepair{a: a, at: at, p: p, owners: owners}
	err := r.bucket(ctx, protocol.Bucket{}, counts)
	return r.rep, err
}

// bucket repairs bucket b, whose owners hold counts[i] entries each: in one
// step if they fit, else through its sub-buckets' digests.
func (r *partRepair) bucket(ctx context.Context, b protocol.Bucket, counts []uint64) error {
	if slices.Max(counts) <= uint64(r.a.cfg.MaxScanKeys) || b.Bits == 64 {
		err := r.step(ctx, b)
		if !errors.Is(err, errStepFull) || b.Bits == 64 {
			return err
		}
	}
	split := min(uint8(r.a.cfg.BucketSplit), 64-b.Bits)
	subs, err := r.subBuckets(ctx, b, split)
	if err != nil {
		return err
	}
	return r.cover(ctx, b, split, subs, 0, 1<<split)
}

// cover repairs the sub-buckets lo..hi-1 of b (an aligned power-of-two
// run, itself a bucket), skipping those whose digests agree. A run with
// two or more differing sub-buckets whose keys fit in a step is scanned
// as one bucket: every scan of a bucket reads its whole partition on the
// node (buckets are hash ranges, storage is in key order), so one scan of
// a run is cheaper than one per sub-bucket. A wiped replica, whose every
// sub-bucket differs, costs a few runs' scans, not 2^split.
func (r *partRepair) cover(ctx context.Context, b protocol.Bucket, split uint8, subs subDigests, lo, hi int) error {
	differ, maxKeys := subs.run(lo, hi)
	switch {
	case len(differ) == 0:
		return nil
	case len(differ) == 1:
		i := differ[0]
		return r.bucket(ctx, b.Child(i, split), subs.counts(i))
	case maxKeys <= uint64(r.a.cfg.MaxScanKeys) && hi-lo < 1<<split: // all of b overflowed already
		k := uint8(bits.TrailingZeros(uint(hi - lo)))
		err := r.step(ctx, b.Child(lo>>k, split-k))
		if !errors.Is(err, errStepFull) {
			return err
		}
	}
	mid := lo + (hi-lo)/2
	if err := r.cover(ctx, b, split, subs, lo, mid); err != nil {
		return err
	}
	return r.cover(ctx, b, split, subs, mid, hi)
}

// subDigests are the owners' RBUCKETS answers for one bucket.
type subDigests []protocol.BucketsReply

// run lists the sub-buckets in lo..hi-1 whose owners' digests differ, and
// sums over all of them the largest owner's key count (what a scan of the
// run would hold, if the owners mostly agree).
func (s subDigests) run(lo, hi int) (differ []int, maxKeys uint64) {
	for i := lo; i < hi; i++ {
		first, most := s[0].At(i), uint64(0)
		same := true
		for o := range s {
			d := s[o].At(i)
			most = max(most, d.Keys)
			same = same && d == first
		}
		if !same {
			differ = append(differ, i)
		}
		maxKeys += most
	}
	return differ, maxKeys
}

// counts are the owners' key counts of sub-bucket i.
func (s subDigests) counts(i int) []uint64 {
	c := make([]uint64, len(s))
	for o := range s {
		c[o] = s[o].At(i).Keys
	}
	return c
}

func (r *partRepair) subBuckets(ctx context.Context, b protocol.Bucket, split uint8) (subDigests, error) {
	subs := make(subDigests, len(r.owners))
	for o, id := range r.owners {
		cctx, cancel := context.WithTimeout(ctx, r.a.live.timeout())
		var err error
		subs[o], err = r.a.nodes.Buckets(cctx, id, protocol.Buckets{
			ReplicaHeader: r.at, Partition: r.p, Bucket: b, Split: split,
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("cannot get bucket digests of partition %d on node %s: %w", r.p, id, err)
		}
		r.a.stats.buckets.Add(1)
	}
	return subs, nil
}

// step scans bucket b on every owner, merges, and writes the fixes.
func (r *partRepair) step(ctx context.Context, b protocol.Bucket) error {
	merged := map[string][]held{}
	for o, id := range r.owners {
		if err := r.scanOwner(ctx, b, id, o, merged); err != nil {
			return err
		}
	}
	fixes := planFixes(merged)
	for chunk := range slices.Chunk(fixes, r.a.cfg.BatchItems) {
		if err := r.a.fetch(ctx, r.at, r.p, r.owners, chunk); err != nil {
			return err
		}
		k, n, err := r.a.writeFixes(ctx, r.at, r.p, r.owners, chunk)
		r.rep.Keys, r.rep.Bytes = r.rep.Keys+k, r.rep.Bytes+n
		if err != nil {
			return err
		}
	}
	return nil
}

// scanOwner pages through owner o's keys in bucket b, merging their
// versions; it stops with errStepFull rather than hold more than
// MaxScanKeys keys.
func (r *partRepair) scanOwner(ctx context.Context, b protocol.Bucket, id string, o int, merged map[string][]held) error {
	cfg := &r.a.cfg
	var after []byte
	maxPages := cfg.MaxScanKeys/cfg.ScanPage + 2 // a page holds at least one key
	for range maxPages {
		cctx, cancel := context.WithTimeout(ctx, r.a.live.timeout())
		page, err := r.a.nodes.Scan(cctx, id, protocol.Scan{
			ReplicaHeader: r.at, Partition: r.p, Bucket: b, After: after, Limit: uint16(cfg.ScanPage),
		})
		cancel()
		if err != nil {
			return fmt.Errorf("cannot scan partition %d on node %s: %w", r.p, id, err)
		}
		r.a.stats.scans.Add(1)
		r.rep.Scanned += page.Count
		r.a.stats.scanned.Add(uint64(page.Count))
		for e, ok := page.Next(); ok; e, ok = page.Next() {
			hs := merged[string(e.Key)]
			if hs == nil {
				if len(merged) >= cfg.MaxScanKeys {
					return r.full(b)
				}
				hs = make([]held, len(r.owners))
				merged[string(e.Key)] = hs
				r.held(len(merged))
			}
			hs[o] = held{version: e.Version, tomb: e.Flags&protocol.ResultTombstone != 0, has: true}
			after = e.Key
		}
		if !page.More {
			return nil
		}
	}
	return r.full(b)
}

// full is errStepFull for bucket b, or ErrTooManyKeys once b cannot be
// split (every key in it has the same 64-bit hash).
func (r *partRepair) full(b protocol.Bucket) error {
	if b.Bits == 64 {
		return fmt.Errorf("partition %d: over %d keys with hash %016x: %w", r.p, r.a.cfg.MaxScanKeys, b.Prefix, ErrTooManyKeys)
	}
	return errStepFull
}

// held records that a step holds n keys.
func (r *partRepair) held(n int) {
	r.rep.PeakKeys = max(r.rep.PeakKeys, n)
	for {
		old := r.a.stats.peakKeys.Load()
		if uint64(n) <= old || r.a.stats.peakKeys.CompareAndSwap(old, uint64(n)) {
			return
		}
	}
}

// planFixes lists, in key order, every key whose newest version some owner
// lacks.
func planFixes(merged map[string][]held) []fix {
	var fixes []fix
	for key, hs := range merged {
		best := -1
		for i := range hs {
			if hs[i].has && (best < 0 || hs[i].version.Newer(hs[best].version)) {
				best = i
			}
		}
		f := fix{key: key, version: hs[best].version, tomb: hs[best].tomb, src: best}
		for i := range hs {
			if !hs[i].has || f.version.Newer(hs[i].version) {
				f.lack = append(f.lack, i)
			}
		}
		if len(f.lack) > 0 {
			fixes = append(fixes, f)
		}
	}
	slices.SortFunc(fixes, func(x, y fix) int { return strings.Compare(x.key, y.key) })
	return fixes
}

// fetch reads the values of the live keys of chunk from their sources.
// A source that now answers another version (a newer write landed) leaves
// the key unfetched: that write reaches the owners by its own path.
func (a *AntiEntropy) fetch(ctx context.Context, at protocol.ReplicaHeader, p uint32, owners []string, chunk []fix) error {
	bySrc := map[int][]int{}
	for i := range chunk {
		if chunk[i].tomb {
			chunk[i].fetched = true
			continue
		}
		bySrc[chunk[i].src] = append(bySrc[chunk[i].src], i)
	}
	for src, idx := range bySrc {
		items := make([]protocol.Item, len(idx))
		for j, i := range idx {
			items[j] = protocol.Item{Kind: protocol.ItemGet, Partition: p, Key: []byte(chunk[i].key)}
		}
		cctx, cancel := context.WithTimeout(ctx, a.live.timeout())
		res, err := sendWait(cctx, a.nodes, owners[src], at, items)
		cancel()
		if err != nil {
			return err
		}
		for j, i := range idx {
			if res[j].Status == protocol.StatusOK && res[j].Version == chunk[i].version {
				chunk[i].value, chunk[i].fetched = res[j].Value, true
			}
		}
	}
	return nil
}

// writeFixes writes each fetched key to the owners that lack it, batched
// per owner and throttled. It counts the acknowledged copies.
func (a *AntiEntropy) writeFixes(ctx context.Context, at protocol.ReplicaHeader, p uint32, owners []string, chunk []fix) (int, int64, error) {
	perOwner := make([][]protocol.Item, len(owners))
	for i := range chunk {
		f := &chunk[i]
		if !f.fetched {
			continue
		}
		it := protocol.Item{Kind: protocol.ItemPut, Partition: p, Version: f.version, Key: []byte(f.key), Value: f.value}
		if f.tomb {
			it.Kind, it.Value = protocol.ItemDel, nil
		}
		for _, o := range f.lack {
			perOwner[o] = append(perOwner[o], it)
		}
	}
	keys, bytes := 0, int64(0)
	var failed error
	for o, items := range perOwner {
		k, b, err := writeBatched(ctx, a.nodes, a.limit, a.live.overlay(a.cfg), owners[o], at, items)
		keys, bytes = keys+k, bytes+b
		if err != nil && failed == nil {
			failed = err
		}
	}
	return keys, bytes, failed
}
