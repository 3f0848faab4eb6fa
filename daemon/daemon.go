package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/link"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/ring"
)

// ringEpoch is the epoch of the ring a daemon builds from its static
// membership when it has no saved ring and the nodes have committed none;
// each membership change (SIGHUP reload) commits the next one.
const ringEpoch = 1

// seedPoll is how often Start checks whether storage nodes have answered
// HELLO (and so have merged their clocks into ours).
const seedPoll = 5 * time.Millisecond

// Daemon is a running coordinator: client front end, replication core and
// links to the storage nodes. Its methods are safe for concurrent use.
type Daemon struct {
	cfg    Config
	log    *slog.Logger
	clock  *protocol.Clock
	pool   *link.Pool
	coord  *replica.Coordinator
	fe     *frontend
	repair *repairs  // hints, anti-entropy, rebalancing (repair.go)
	admin  *admin    // nil when Config.Admin is empty (admin.go)
	tls    *tlsFront // nil when Config.TLSListen is empty (tls.go)

	// Reloads (reload.go) run one at a time under reloadMu; their ctx is
	// cancelled by Shutdown so a long rebalance cannot hold it up.
	reloadMu       sync.Mutex
	reloadCtx      context.Context
	stopReload     context.CancelFunc
	reloads        atomic.Uint64
	reloadFailures atomic.Uint64

	bg        sync.WaitGroup // a move resumed at start (epoch.go)
	closeOnce sync.Once
}

// Start builds the ring, connects to the storage nodes, seeds the clock
// from their HELLO replies (so versions never go backwards across a
// daemon restart), and then serves clients on cfg.Listen. It returns once
// the listener accepts connections.
func Start(cfg Config) (*Daemon, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, clock: protocol.NewClock(cfg.Clock)}
	d.reloadCtx, d.stopReload = context.WithCancel(context.Background())
	rcfg := cfg.Ring
	rcfg.Replicas = cfg.Replica.N
	r, err := ring.New(rcfg, cfg.Nodes, ringEpoch)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	lcfg := cfg.Link
	lcfg.Limits = linkLimits(lcfg.Limits, cfg.Limits)
	lcfg.Logger = cfg.Logger.With("component", "link")
	lcfg.OnStamp = func(st protocol.ReplicaStamp) { d.clock.Observe(st.Clock) }
	if d.pool, err = link.New(lcfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	addrs := make(map[string]string, len(cfg.Nodes))
	for _, n := range cfg.Nodes {
		addrs[n.ID] = n.Addr
	}
	d.pool.SetNodes(addrs)
	d.seedClock()
	if d.repair, err = openRepairs(cfg, d.pool); err != nil {
		d.pool.Close()
		return nil, err
	}
	saved, err := d.repair.loadState(r.Config())
	if err != nil {
		d.repair.close()
		d.pool.Close()
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	built := r
	r, resume, nodesAt := d.startRing(r, saved)
	if resume == nil && !nodesAt {
		var next *ring.Ring
		if r, next = d.placementMove(r, built, saved); next != nil {
			resume, saved.Move = next, next // like a saved move: drops wait for it
		}
	}
	logRing(d.log, r)
	d.pool.SetNodes(nodeAddrs(r.Nodes()))
	rep := cfg.Replica
	rep.Origin = cfg.ID
	rep.Logger = cfg.Logger.With("component", "replica")
	rep.OnMiss = d.repair.onMiss()
	if d.coord, err = replica.New(rep, r, d.pool, d.clock); err == nil {
		err = d.repair.start(d.pool, d.coord, saved)
	}
	if err != nil {
		if d.coord != nil {
			d.coord.Close()
		}
		d.repair.close()
		d.pool.Close()
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	switch {
	case resume != nil && nodesAt:
		d.finishResume(resume) // quick: every partition is copied
	case resume != nil:
		resume = d.pendResume(resume) // before the first request
	case saved.Move != nil:
		d.repair.reb.Cancel() // stale, or the nodes moved on: forget it, and let drops run
	}
	epoch := func() uint64 { return d.coord.Ring().Epoch() }
	if d.fe, err = startFrontend(cfg, d.coord, d.clock, epoch, d.appendStats); err != nil {
		d.coord.Close()
		d.repair.close()
		d.pool.Close()
		return nil, err
	}
	if cfg.TLSListen != "" {
		if d.tls, err = startTLS(d.fe, cfg.TLSListen, cfg.TLS); err != nil {
			_ = d.Shutdown(context.Background())
			return nil, err
		}
		d.log.Info("TLS serving", "addr", d.tls.addr(), "mtls", cfg.TLS.ClientAuth >= tls.VerifyClientCertIfGiven)
	}
	if cfg.Admin != "" {
		if d.admin, err = startAdmin(d, cfg.Admin); err != nil {
			_ = d.Shutdown(context.Background())
			return nil, err
		}
		d.log.Info("admin serving", "addr", d.admin.addr())
	}
	if resume != nil && !nodesAt {
		d.resumeMove(resume)
	}
	d.log.Info("daemon serving", "addr", d.fe.addr, "id", cfg.ID, "nodes", len(cfg.Nodes),
		"n", rep.N, "w", rep.W, "r", rep.R)
	return d, nil
}

// seedClock waits until every storage node has completed a HELLO (its
// clock then went through OnStamp into ours) or SeedTimeout passes. A
// write was acknowledged by W nodes, so seeing all but W-1 of them is
// enough for its version to be below our clock; fewer is logged.
func (d *Daemon) seedClock() {
	deadline := time.Now().Add(d.cfg.SeedTimeout)
	t := time.NewTicker(seedPoll)
	defer t.Stop()
	for {
		seen, missing := 0, []string(nil)
		for _, s := range d.pool.Stats() {
			if s.Conns > 0 || s.Reconnects > 0 {
				seen++
			} else {
				missing = append(missing, s.ID)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			need := len(d.cfg.Nodes) - d.cfg.Replica.W + 1
			level := slog.LevelInfo
			if seen < need {
				level = slog.LevelWarn
			}
			d.log.Log(context.Background(), level, "serving before every storage node answered; clock seeded from the others",
				"missing", missing, "seen", seen, "safe_at", need)
			return
		}
		<-t.C
	}
}

// TLSAddr is the TLS listener's address, or "" without one.
func (d *Daemon) TLSAddr() string {
	if d.tls == nil {
		return ""
	}
	return d.tls.addr()
}

// Addr is the address clients connect to (with the port resolved when
// Listen asked for port 0).
func (d *Daemon) Addr() string { return d.fe.addr }

// Shutdown stops accepting connections (new ones get BUSY and are
// closed), stops reading new requests, answers those in flight and flushes
// their replies until ctx ends, then closes every connection, the
// replication core and the storage links, and waits for the goroutines it
// started. Requests still in flight at ctx's deadline are cancelled:
// their connections close without an answer. Shutdown is idempotent; it
// returns ctx's error if the deadline cut the drain short.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.stopReload()
	if d.tls != nil {
		d.tls.stopAccepting() // TLS connections drain with the gnet ones
	}
	err := d.fe.shutdown(ctx)
	d.closeOnce.Do(func() {
		d.bg.Wait() // a resumed move sees reloadCtx cancelled and ends
		if d.tls != nil {
			d.tls.close()
		}
		if d.admin != nil {
			d.admin.close(ctx)
		}
		// Close under reloadMu: a reload in progress (its ctx is
		// cancelled) ends first, and a later one finds reloadCtx done.
		d.reloadMu.Lock()
		defer d.reloadMu.Unlock()
		d.coord.Close()
		d.repair.close()
		d.pool.Close()
		d.log.Info("daemon stopped", "addr", d.fe.addr)
	})
	return err
}

// appendStats appends the replication core's and the links' counters to
// a STATS reply.
func (d *Daemon) appendStats(b *bytes.Buffer) {
	s := d.coord.Stats()
	for _, kv := range []struct {
		name string
		v    uint64
	}{
		{"replica_puts", s.Puts}, {"replica_dels", s.Dels}, {"replica_gets", s.Gets},
		{"replica_mputs", s.MPuts}, {"replica_mgets", s.MGets}, {"replica_batch_keys", s.BatchKeys},
		{"replica_not_found", s.NotFound}, {"replica_unavailable", s.Unavailable},
		{"replica_timeouts", s.Timeouts}, {"replica_partial", s.Partial}, {"replica_refused", s.Refused},
		{"replica_superseded", s.Superseded}, {"replica_failures", s.ReplicaFailures},
		{"replica_read_repairs", s.ReadRepairs}, {"replica_read_repair_failures", s.ReadRepairFailures},
		{"replica_async_repairs", s.AsyncRepairs}, {"replica_async_repairs_dropped", s.AsyncRepairsDrop},
		{"replica_epoch_retries", s.EpochRetries}, {"replica_behind", s.Behind},
		{"replica_max_epoch_seen", s.MaxEpochSeen}, {"ring_epoch", d.coord.Ring().Epoch()},
	} {
		line(b, kv.name, kv.v)
	}
	line(b, "clock", d.clock.Last())
	line(b, "clock_lead_ms", d.clock.Lead().Milliseconds())
	d.repair.appendStats(b)
	for _, n := range d.pool.Stats() {
		p := "link_" + n.ID + "_"
		up := int64(0)
		if n.Up {
			up = 1
		}
		line(b, p+"up", up)
		line(b, p+"conns", int64(n.Conns))
		line(b, p+"in_flight", int64(n.InFlight))
		line(b, p+"queued", int64(n.Queued))
		line(b, p+"failures", int64(n.Failures))
		line(b, p+"sent", n.Sent)
		line(b, p+"batched", n.Batched)
		line(b, p+"writes", n.Writes)
		line(b, p+"errors", n.Errors)
		line(b, p+"reconnects", n.Reconnects)
		line(b, p+"ejections", n.Ejections)
	}
}

// Ring returns the ring the daemon routes by (an immutable snapshot).
func (d *Daemon) Ring() *ring.Ring { return d.coord.Ring() }

// Behind counts the requests the storage nodes refused for this daemon's
// ring with no newer ring to retry on: they committed a newer ring, or
// another membership at this epoch. While it rises, the daemon needs the
// current membership (a Reload with it catches up at the nodes' epoch).
// Any goroutine.
func (d *Daemon) Behind() uint64 { return d.coord.Stats().Behind }
