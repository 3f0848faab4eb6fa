package ring

import "slices"

// Preference appends to dst the n best nodes for partition p and returns the
// extended slice. The first N are Owners(p); the rest continue in candidate
// order (zone-spreading rendezvous), which is where hinted handoff and sloppy
// quorums should look next. n is capped at the node count; an out-of-range p
// appends nothing. It allocates only when n exceeds the remembered candidate
// list and when dst must grow.
func (r *Ring) Preference(p uint32, dst []uint16, n int) []uint16 {
	owners := r.Owners(p)
	if owners == nil || n <= 0 {
		return dst
	}
	n = min(n, len(r.m.nodes))
	start := len(dst)
	dst = append(dst, owners[:min(n, len(owners))]...)
	dst = appendMissing(dst, start, r.prefs.row(p), n)
	if len(dst)-start < n {
		dst = appendMissing(dst, start, r.m.fullOrder(p), n)
	}
	return dst
}

// appendMissing appends nodes of list not yet in dst[start:] until
// dst[start:] has n entries.
func appendMissing(dst []uint16, start int, list []uint16, n int) []uint16 {
	for _, node := range list {
		if len(dst)-start >= n {
			break
		}
		if !slices.Contains(dst[start:], node) {
			dst = append(dst, node)
		}
	}
	return dst
}
