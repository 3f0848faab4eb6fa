package daemon

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"

	"github.com/distridata/distridata/ring"
)

// liveFields are the Config fields Reload applies to a running daemon.
// Every other field is read by event loops, links or background workers
// without synchronisation (or sizes something already built), so a
// change to it needs a restart; Reload logs which ones it kept.
var liveFields = []string{"Nodes"}

// reloadIgnored are fields that are not configuration (hooks, loggers)
// or that Start overrides; Reload never reports them as changed.
var reloadIgnored = map[string]bool{
	"Logger": true, "Replica.Logger": true, "Replica.OnMiss": true, "Replica.Origin": true,
	"Link.Logger": true, "Link.OnStamp": true, "Repair.Logger": true, "Repair.WriteQuorum": true,
	"Ring.Replicas": true, "TLS": true, // certificates are read at start only
	"Clock": true, // a test hook, never reloaded
}

// Reload applies cfg to the running daemon: a membership change (nodes
// added, removed, re-addressed, re-weighted or re-zoned) builds the next
// ring at epoch+1, links its nodes, copies the moving partitions while
// writes reach both owner sets (the rebalancer), commits the ring and
// unlinks dropped nodes; requests in flight finish on the ring they
// started on. Settings that cannot change live are logged and keep their
// running values. If cfg is invalid or the move fails, the old ring and
// config keep serving, the failure is logged and counted
// (reload_failures_total), and the error is returned. Shutdown cancels a
// reload in progress. Reloads run one at a time; any goroutine.
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

func (d *Daemon) reload(cfg Config) error {
	if err := d.reloadCtx.Err(); err != nil {
		return fmt.Errorf("cannot reload: shutting down: %w", err)
	}
	cfg = cfg.withDefaults()
	if err := cfg.Check(); err != nil {
		return fmt.Errorf("cannot reload: %w", err)
	}
	if kept := restartFields(d.cfg, cfg); len(kept) > 0 {
		d.log.Warn("reload: these settings change only at restart; running values kept", "fields", kept)
	}
	cur := d.coord.Ring()
	if sameMembers(cur.Nodes(), cfg.Nodes) {
		d.log.Info("reload: membership unchanged", "epoch", cur.Epoch())
		return nil
	}
	// The next ring keeps the running ring's shape: only membership moves.
	next, err := ring.New(cur.Config(), cfg.Nodes, cur.Epoch()+1)
	if err != nil {
		return fmt.Errorf("%w: cannot reload: %w", ErrConfig, err)
	}
	rep, err := d.Move(d.reloadCtx, next)
	if err != nil {
		// Abandon the half-done move: writes go to the old owners only,
		// and the links return to the old membership.
		d.repair.reb.Cancel()
		d.pool.SetNodes(nodeAddrs(cur.Nodes()))
		return fmt.Errorf("cannot reload: rebalance to epoch %d failed: %w", next.Epoch(), err)
	}
	d.cfg.Nodes = slices.Clone(cfg.Nodes)
	d.log.Info("reload: membership changed", "epoch", next.Epoch(), "nodes", len(cfg.Nodes),
		"partitions_moved", rep.Partitions, "keys", rep.Keys, "took", rep.Duration)
	return nil
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
