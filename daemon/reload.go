package daemon

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/ring"
)

// liveFields are the Config fields Reload applies to a running daemon:
// the membership; the front end's limits, windows, budgets, timeouts and
// token (tunables.go); the replication core's default quorums, request
// budget and read repair (replica.Tunables); the TLS material of the
// client listener; the links' timeouts, backoff, ejection count, token,
// seal options and TLS material (link.Tunables); and repair's request
// timeout, throttles and anti-entropy pace (repair.Tunables). Requests
// in flight finish with the settings they started with, and connections
// keep the certificates they were made with. Every other field sizes
// something already built (listeners, event loops, worker pool, the
// links' connections, queues and windows, hint storage and queues, scan
// and batch sizes, the ring, N) or fixes a plan or timer already running
// (drop grace and interval, replay interval, move retries), so a change
// to it needs a restart; Reload logs which ones it kept.
var liveFields = []string{
	"Nodes",
	"Limits", "MaxConns", "IdleTimeout", "FrameTimeout", "DefaultTimeout",
	"ConnWindow", "ConnWindowBytes", "MaxInboundBuffered", "MaxOutboundBuffered",
	"OutputWindow", "OutputTimeout", "MemoryBudget", "Token",
	"Replica.W", "Replica.R", "Replica.Timeout", "Replica.ReadRepair",
	"TLS", "Link.TLS",
	"Link.DialTimeout", "Link.BackoffMin", "Link.BackoffMax", "Link.EjectAfter", "Link.Token", "Link.Seal",
	"Repair.Timeout", "Repair.PartitionsPerSec", "Repair.ReplayItemsPerSec", "Repair.ReplayBytesPerSec",
	"Repair.RepairItemsPerSec", "Repair.RepairBytesPerSec", "Repair.MoveItemsPerSec", "Repair.MoveBytesPerSec",
	"Repair.DropPartitionsPerSec",
}

// LiveFields names the Config fields a Reload applies without a restart,
// as "Field" or "Struct.Field" (for `distridata config default`).
func LiveFields() []string { return slices.Clone(liveFields) }

// reloadIgnored are fields that are not configuration (hooks, loggers)
// or that Start overrides; Reload never reports them as changed.
var reloadIgnored = map[string]bool{
	"Logger": true, "Replica.Logger": true, "Replica.OnMiss": true, "Replica.Origin": true,
	"Link.Logger": true, "Link.OnStamp": true, "Repair.Logger": true, "Repair.WriteQuorum": true,
	"Ring.Replicas": true, "Clock": true, // Clock: a test hook, never reloaded
}

// Reload applies cfg to the running daemon. A membership change (nodes
// added, removed, re-addressed, re-weighted or re-zoned) builds the next
// ring at epoch+1, links its nodes, copies the moving partitions while
// writes reach both owner sets (the rebalancer), commits the ring and
// unlinks dropped nodes; requests in flight finish on the ring they
// started on. The other live fields (liveFields: limits, windows,
// budgets, timeouts, the token, default quorums) then apply to requests
// and connections that start afterwards; requests in flight finish with
// the settings they started with, and connections that already passed
// HELLO stay authenticated when the token changes. Settings that cannot
// change live are logged and keep their running values. If cfg is
// invalid (alone, or with the running values of those settings) or the
// move fails, nothing of cfg is applied: the old config keeps serving,
// the failure is logged and counted (reload_failures_total), and the
// error is returned. Shutdown cancels a reload in progress. Reloads run
// one at a time; any goroutine.
func (d *Daemon) Reload(cfg Config) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if err := d.reload(cfg); err != nil {
		d.ReloadFailed(err)
		return err
	}
	d.reloads.Add(1)
	return nil
}

// ReloadFailed logs and counts a reload that did not happen, such as a
// config file that could not be read. Any goroutine.
func (d *Daemon) ReloadFailed(err error) {
	d.reloadFailures.Add(1)
	d.log.Error("reload rejected; the running config stays", "err", err)
}

// reload validates cfg, and the running config with cfg's live fields,
// then moves the membership if it changed, and only then applies the
// other live fields: if anything fails, nothing of cfg is applied.
// reloadMu held.
func (d *Daemon) reload(cfg Config) error {
	if err := d.reloadCtx.Err(); err != nil {
		return fmt.Errorf("cannot reload: shutting down: %w", err)
	}
	cfg = cfg.withDefaults()
	if err := cfg.Check(); err != nil {
		return fmt.Errorf("cannot reload: %w", err)
	}
	// What will run: the live fields of cfg with the rest kept, which
	// must hold together too (W within the running N, say).
	next := withLiveFields(d.cfg, cfg)
	kept := restartFields(d.cfg, cfg)
	if (next.Link.TLS == nil) != (d.cfg.Link.TLS == nil) {
		// Nodes serve TLS or plain TCP: switching needs them restarted too.
		next.Link.TLS = d.cfg.Link.TLS
		kept = append(kept, "Link.TLS (TLS on or off)")
	}
	if err := next.Check(); err != nil {
		return fmt.Errorf("cannot reload: with the settings that need a restart kept: %w", err)
	}
	if len(kept) > 0 {
		d.log.Warn("reload: these settings change only at restart; running values kept", "fields", kept)
	}
	if err := d.reloadMembers(cfg.Nodes); err != nil {
		return err
	}
	changed := changedLive(d.cfg, next)
	d.applyTunables(next)
	d.cfg = next
	if len(changed) > 0 {
		d.log.Info("reload: settings applied to new requests and connections", "fields", changed)
	}
	if d.tls != nil || next.Link.TLS != nil {
		d.log.Info("reload: TLS material applied to new handshakes", "listener", d.tls != nil, "links", next.Link.TLS != nil)
	}
	return nil
}

// reloadMembers moves the ring to nodes if the membership differs, or if
// the storage nodes have committed nodes at a later epoch (this daemon is
// behind).
func (d *Daemon) reloadMembers(nodes []ring.Node) error {
	cur := d.coord.Ring()
	next, err := d.nextRing(cur, nodes)
	if err != nil {
		return err
	}
	if next == nil {
		d.log.Info("reload: membership unchanged", "epoch", cur.Epoch())
		return nil
	}
	logRing(d.log, next)
	rep, err := d.Move(d.reloadCtx, next)
	if err != nil {
		// Abandon the half-done move: writes go to the old owners only,
		// and the links return to the old membership.
		d.repair.reb.Cancel()
		d.pool.SetNodes(nodeAddrs(cur.Nodes()))
		return fmt.Errorf("cannot reload: rebalance to epoch %d failed: %w", next.Epoch(), err)
	}
	d.log.Info("reload: membership changed", "epoch", next.Epoch(), "nodes", len(nodes),
		"partitions_moved", rep.Partitions, "keys", rep.Keys, "took", rep.Duration)
	return nil
}

// nextRing builds the ring a reload moves to, keeping the running ring's
// shape (only membership moves): nodes at the epoch after cur, or at the
// storage nodes' epoch when they committed that very ring later (other
// daemons moved on, maybe several times, while this one was behind: a
// ring at cur+1 would be refused as stale, while theirs is accepted, so
// the move copies again, idempotently, and commits what they hold). Nil
// when nothing changes.
func (d *Daemon) nextRing(cur *ring.Ring, nodes []ring.Node) (*ring.Ring, error) {
	if ne, nh := d.nodesRing(); ne > cur.Epoch() {
		if theirs := rebuildAny(cur.Config(), nodes, ne, nh); theirs != nil {
			d.log.Info("reload: catching up with the ring the storage nodes committed", "epoch", cur.Epoch(), "nodes_epoch", ne)
			return theirs, nil
		}
	}
	if sameMembers(cur.Nodes(), nodes) {
		return nil, nil
	}
	next, err := ring.New(cur.Config().Latest(), nodes, cur.Epoch()+1)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot reload: %w", ErrConfig, err)
	}
	return next, nil
}

// applyTunables makes next's live settings those of new requests and
// connections. The rebalancer learns a lower W before any write can be
// acknowledged under it. next has passed Check.
func (d *Daemon) applyTunables(next Config) {
	if d.repair.reb != nil {
		d.repair.reb.LowerWriteQuorum(next.Replica.W)
	}
	rc := next.Replica
	if err := d.coord.SetTunables(replica.Tunables{W: rc.W, R: rc.R, Timeout: rc.Timeout, ReadRepair: rc.ReadRepair}); err != nil {
		panic(fmt.Sprintf("daemon: checked replica tunables refused: %v", err)) // a bug: Check passed
	}
	d.fe.setTunables(next)
	if d.tls != nil {
		d.tls.setConfig(next.TLS)
	}
	if err := d.pool.SetTunables(next.Link.Tunables()); err != nil {
		panic(fmt.Sprintf("daemon: checked link tunables refused: %v", err)) // a bug: Check passed, TLS kept on or off
	}
	if err := d.repair.setTunables(next.Repair.Tunables()); err != nil {
		panic(fmt.Sprintf("daemon: checked repair tunables refused: %v", err)) // a bug: Check passed
	}
}

// sameMembers reports whether two memberships are equal, ignoring order.
func sameMembers(a, b []ring.Node) bool {
	byID := func(x, y ring.Node) int { return cmp.Compare(x.ID, y.ID) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, byID)
	slices.SortFunc(b, byID)
	return slices.Equal(a, b)
}

// restartFields names the fields that differ between old and new and
// cannot be applied live.
func restartFields(old, new Config) []string {
	var out []string
	diffFields(reflect.ValueOf(old), reflect.ValueOf(new), "", &out)
	return out
}

func diffFields(a, b reflect.Value, prefix string, out *[]string) {
	for i := range a.NumField() {
		f := a.Type().Field(i)
		name := prefix + f.Name
		if !f.IsExported() || reloadIgnored[name] || slices.Contains(liveFields, name) {
			continue
		}
		fa, fb := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct && prefix == "" {
			diffFields(fa, fb, name+".", out)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			*out = append(*out, name)
		}
	}
}

// withLiveFields returns old with the live fields taken from new.
func withLiveFields(old, new Config) Config {
	out := old
	o, n := reflect.ValueOf(&out).Elem(), reflect.ValueOf(new)
	for _, name := range liveFields {
		o.FieldByIndex(fieldIndex(o.Type(), name)).Set(n.FieldByIndex(fieldIndex(n.Type(), name)))
	}
	out.Nodes = slices.Clone(new.Nodes)
	return out
}

// changedLive names the live fields, apart from Nodes and the TLS
// configs, that differ. TLS configs are re-read from their files on
// every reload and hold state once used, so reload logs them apart.
func changedLive(old, new Config) []string {
	var out []string
	o, n := reflect.ValueOf(old), reflect.ValueOf(new)
	for _, name := range liveFields {
		if name == "Nodes" || name == "TLS" || name == "Link.TLS" {
			continue
		}
		idx := fieldIndex(o.Type(), name)
		if !reflect.DeepEqual(o.FieldByIndex(idx).Interface(), n.FieldByIndex(idx).Interface()) {
			out = append(out, name)
		}
	}
	return out
}

// fieldIndex resolves "Field" or "Struct.Field" in t; a name that does
// not exist is a bug in liveFields.
func fieldIndex(t reflect.Type, name string) []int {
	var idx []int
	for part := range strings.SplitSeq(name, ".") {
		f, ok := t.FieldByName(part)
		if !ok {
			panic("daemon: liveFields names no Config field " + name)
		}
		idx, t = append(idx, f.Index...), f.Type
	}
	return idx
}
