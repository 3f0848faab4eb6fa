package repair

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/distridata/distridata/protocol"
)

// A partition repair: scan every owner's keys and versions (no values),
// merge, and for each key whose newest version some owner lacks, fetch the
// value from an owner that has it and write it, versioned, to the others.

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

func (a *AntiEntropy) repair(ctx context.Context, epoch uint64, p uint32, owners []string) (int, int64, error) {
	merged := map[string][]held{}
	for i, id := range owners {
		if err := a.scanOwner(ctx, epoch, p, id, i, len(owners), merged); err != nil {
			return 0, 0, err
		}
	}
	fixes := planFixes(merged)
	keys, bytes := 0, int64(0)
	for chunk := range slices.Chunk(fixes, a.cfg.BatchItems) {
		if err := a.fetch(ctx, epoch, p, owners, chunk); err != nil {
			return keys, bytes, err
		}
		k, b, err := a.writeFixes(ctx, epoch, p, owners, chunk)
		keys, bytes = keys+k, bytes+b
		if err != nil {
			return keys, bytes, err
		}
	}
	return keys, bytes, nil
}

// scanOwner pages through owner i's keys, merging their versions.
func (a *AntiEntropy) scanOwner(ctx context.Context, epoch uint64, p uint32, id string, i, n int, merged map[string][]held) error {
	var after []byte
	maxPages := a.cfg.MaxScanKeys/a.cfg.ScanPage + 2 // a page holds at least one key
	for range maxPages {
		cctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
		page, err := a.nodes.Scan(cctx, id, protocol.Scan{
			ReplicaHeader: protocol.ReplicaHeader{Epoch: epoch}, Partition: p, After: after, Limit: uint16(a.cfg.ScanPage),
		})
		cancel()
		if err != nil {
			return fmt.Errorf("cannot scan partition %d on node %s: %w", p, id, err)
		}
		for e, ok := page.Next(); ok; e, ok = page.Next() {
			hs := merged[string(e.Key)]
			if hs == nil {
				if len(merged) >= a.cfg.MaxScanKeys {
					return fmt.Errorf("partition %d: over %d keys: %w", p, a.cfg.MaxScanKeys, ErrTooManyKeys)
				}
				hs = make([]held, n)
				merged[string(e.Key)] = hs
			}
			hs[i] = held{version: e.Version, tomb: e.Flags&protocol.ResultTombstone != 0, has: true}
			after = e.Key
		}
		if !page.More {
			return nil
		}
	}
	return fmt.Errorf("partition %d on node %s: over %d pages: %w", p, id, maxPages, ErrTooManyKeys)
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
func (a *AntiEntropy) fetch(ctx context.Context, epoch uint64, p uint32, owners []string, chunk []fix) error {
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
		cctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
		res, err := sendWait(cctx, a.nodes, owners[src], epoch, items)
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
func (a *AntiEntropy) writeFixes(ctx context.Context, epoch uint64, p uint32, owners []string, chunk []fix) (int, int64, error) {
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
		k, b, err := writeBatched(ctx, a.nodes, a.limit, a.cfg, owners[o], epoch, items)
		keys, bytes = keys+k, bytes+b
		if err != nil && failed == nil {
			failed = err
		}
	}
	return keys, bytes, failed
}
