package replica

import "github.com/distridata/distridata/protocol"

// Missed owners of a write are reported through Config.OnMiss so that the
// daemon can keep a hint for each (hinted handoff). An owner is missed when
// it was down at planning, refused, failed or timed out, but only if the
// write may have landed somewhere: a write refused everywhere (or never
// sent, ErrUnavailable) has outcome failed, and a hint replayed later would
// apply a write the client was told failed.

// mayHaveLanded reports whether a write key's outcome allows it to be
// applied on its owners: acknowledged, or unknown (TIMEOUT, PARTIAL).
func mayHaveLanded(k *keyState) bool {
	return k.sent > 0 && (k.err == nil || k.err == ErrTimeout || k.err == ErrPartial)
}

// hintItem is the write of key i as a replica item. Key aliases the arena
// and Value the caller's (or, once owned, the arena's) bytes: valid only
// during an OnMiss call.
func (o *op) hintItem(i int) protocol.Item {
	k := &o.keys[i]
	return protocol.Item{Kind: k.kind, Partition: k.partition, Version: k.version, Key: o.key(i), Value: k.value}
}

// noteMisses reports the owners of each write key that are settled and
// missed it, and copies the value of keys with owners still pending into
// the op's arena: the caller's value is gone once the write returns, and a
// late failure still needs it for its hint. Called with mu held at the end
// of the fan-out, while the caller's value is still valid.
func (o *op) noteMisses() {
	fn := o.c.cfg.OnMiss
	if fn == nil {
		return
	}
	for i := range o.keys {
		k := &o.keys[i]
		if !mayHaveLanded(k) {
			continue
		}
		pending := false
		for s := k.slot0; s < k.slot0+k.nslots; s++ {
			switch o.slots[s].state {
			case slotDown, slotFailed, slotUnknown:
				if o.slots[s].status == protocol.StatusWrongEpoch {
					continue // fenced: it answers to another ring, a hint would be refused too
				}
				o.c.stats.misses.Add(1)
				fn(o.nodeID(o.slots[s].node), o.hintItem(i))
			case slotPending:
				pending = true
			}
		}
		if pending && k.kind == protocol.ItemPut {
			start := len(o.arena)
			o.arena = append(o.arena, k.value...)
			k.value = o.arena[start:len(o.arena):len(o.arena)]
		}
	}
}

// onLateWriteReply reports owners whose answer came after the write
// returned and was not an acknowledgement. Called with mu held.
func (o *op) onLateWriteReply(ns *nodeSend, rep Reply) {
	fn := o.c.cfg.OnMiss
	if fn == nil {
		return
	}
	bad := rep.Err != nil || len(rep.Results) != len(ns.items)
	for i, si := range ns.slots {
		ki := int(o.slots[si].key)
		if !mayHaveLanded(&o.keys[ki]) {
			continue
		}
		if !bad {
			st := rep.Results[i].Status
			if st == protocol.StatusOK || st == protocol.StatusSuperseded || st == protocol.StatusWrongEpoch {
				continue
			}
		}
		o.c.stats.misses.Add(1)
		fn(ns.id, o.hintItem(ki))
	}
}
