package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/link"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/repair"
	"github.com/distridata/distridata/ring"
)

// repair runs one anti-entropy pass straight against the storage nodes, as
// a standalone tool: the daemon has no admin endpoint yet to trigger its
// own. It must be given the daemon's membership and ring shape (--config,
// the daemons' own file; or --nodes, --n, --partitions, which cannot give
// zones or weights) so that it compares the same owners.

func init() {
	register("repair", command{summary: "run one anti-entropy pass against the storage nodes and print what it fixed", run: runRepair})
}

type repairOptions struct {
	config                     string
	nodes, tokenFile, logLevel string
	n, w, partitions           int
	partition                  int64
	itemsPerSec                float64
}

func parseRepair(args []string, stderr io.Writer) (repairOptions, error) {
	o := repairOptions{}
	fs := flag.NewFlagSet("distridata repair", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", "", "the daemons' config file (serve --config): its membership (with zones and weights), n, w, ring partitions and node token; replaces --nodes, --n, --w and --partitions")
	fs.StringVar(&o.nodes, "nodes", "", "storage nodes as ID=ADDR,ID=ADDR,... (the daemon's membership)")
	fs.IntVar(&o.n, "n", 3, "replicas per key (the daemon's N)")
	fs.IntVar(&o.w, "w", 2, "write quorum (the daemon's W)")
	fs.IntVar(&o.partitions, "partitions", ring.DefaultConfig().Partitions, "ring partitions (the daemon's)")
	fs.Int64Var(&o.partition, "partition", -1, "check only this partition (-1: all)")
	fs.Float64Var(&o.itemsPerSec, "rate", repair.DefaultRepairItemsPerSec, "repair writes per second")
	fs.StringVar(&o.tokenFile, "node-token-file", "", "file holding the token storage nodes expect")
	fs.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.config != "" {
		conflict := ""
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "nodes", "n", "w", "partitions":
				conflict = f.Name
			}
		})
		if conflict != "" {
			return o, fmt.Errorf("--%s with --config: the file gives it", conflict)
		}
	}
	return o, nil
}

// target is the membership, ring shape, write quorum and node token file
// a pass runs with: the daemons' config file's, or the flags'.
func (o repairOptions) target() (nodes []ring.Node, rcfg ring.Config, w int, tokenFile string, err error) {
	rcfg = ring.DefaultConfig()
	if o.config == "" {
		nodes, err = parseNodes(o.nodes)
		rcfg.Partitions, rcfg.Replicas = o.partitions, o.n
		return nodes, rcfg, o.w, o.tokenFile, err
	}
	so, err := parseServe([]string{"--config", o.config}, io.Discard)
	if err != nil {
		return nil, rcfg, 0, "", fmt.Errorf("cannot read --config: %w", err)
	}
	if nodes = so.Members; len(nodes) == 0 || so.Nodes != "" {
		if nodes, err = parseNodes(so.Nodes); err != nil {
			return nil, rcfg, 0, "", fmt.Errorf("--config %s: %w", o.config, err)
		}
	}
	rcfg = so.D.Ring
	rcfg.Replicas = so.N
	if tokenFile = o.tokenFile; tokenFile == "" {
		tokenFile = so.NodeTokenFile
	}
	return nodes, rcfg, so.W, tokenFile, nil
}

func runRepair(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseRepair(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "distridata repair: %v\n", err)
		return exitUsage
	}
	rep, err := repairPass(ctx, o, stderr)
	if rep.Partitions > 0 || err == nil {
		fmt.Fprintf(stdout, "checked %d partitions (%d skipped: fewer than 2 owners up), %d mismatched, repaired %d key copies (%d bytes), %d failed, in %v\n",
			rep.Partitions, rep.Skipped, rep.Mismatched, rep.Keys, rep.Bytes, rep.Failed, rep.Duration.Round(1e6))
	}
	if err != nil {
		fmt.Fprintf(stderr, "distridata repair: %v\n", err)
		return exitUnavailable
	}
	return exitOK
}

// repairPass links the nodes, waits for them to answer, and runs the pass.
func repairPass(ctx context.Context, o repairOptions, stderr io.Writer) (repair.Report, error) {
	log, err := newLogger(o.logLevel, stderr)
	if err != nil {
		return repair.Report{}, err
	}
	nodes, rcfg, w, tokenFile, err := o.target()
	if err != nil {
		return repair.Report{}, err
	}
	if _, err := ring.New(rcfg, nodes, 1); err != nil {
		return repair.Report{}, err
	}
	// The nodes refuse rings older than the epoch they committed: use
	// theirs, learned from their HELLO replies, for the given membership.
	var epoch atomic.Uint64
	lcfg := link.DefaultConfig()
	lcfg.Logger = log
	lcfg.OnStamp = func(st protocol.ReplicaStamp) {
		for {
			cur := epoch.Load()
			if st.Epoch <= cur || epoch.CompareAndSwap(cur, st.Epoch) {
				return
			}
		}
	}
	if lcfg.Token, err = readToken(tokenFile); err != nil {
		return repair.Report{}, err
	}
	pool, err := link.New(lcfg)
	if err != nil {
		return repair.Report{}, err
	}
	defer pool.Close()
	addrs := map[string]string{}
	for _, n := range nodes {
		addrs[n.ID] = n.Addr
	}
	pool.SetNodes(addrs)
	cfg := repair.DefaultConfig()
	cfg.WriteQuorum, cfg.RepairItemsPerSec, cfg.Logger = w, o.itemsPerSec, log
	waitLinked(ctx, pool, lcfg.DialTimeout)
	r, err := ring.New(rcfg, nodes, max(1, epoch.Load()))
	if err != nil {
		return repair.Report{}, err
	}
	if err := checkNodesRing(ctx, pool, r, cfg.Timeout); err != nil {
		return repair.Report{}, err
	}
	ae, err := repair.NewAntiEntropy(cfg, pool, func() *ring.Ring { return r })
	if err != nil {
		return repair.Report{}, err
	}
	defer ae.Close()
	var parts []uint32
	if o.partition >= 0 {
		if o.partition >= int64(r.Partitions()) { // --partitions or the config file's
			return repair.Report{}, fmt.Errorf("--partition %d is not below the ring's %d partitions", o.partition, r.Partitions())
		}
		parts = []uint32{uint32(o.partition)}
	}
	return ae.Pass(ctx, parts)
}

// checkNodesRing refuses a pass under another ring than the one the
// nodes committed: its owners would not be the daemons' (a pass would
// copy keys to non-owners), and the nodes refuse its requests anyway
// (WRONG_EPOCH). It names the cause instead of failing every partition.
// A node that is down, does not answer within timeout (the pass's
// per-request bound: a node whose link is up but which never replies
// must not hang the command) or has committed nothing is not asked to
// agree.
func checkNodesRing(ctx context.Context, pool *link.Pool, r *ring.Ring, timeout time.Duration) error {
	for _, n := range r.Nodes() {
		if !pool.Up(n.ID) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		rep, err := pool.CommitEpoch(cctx, n.ID, protocol.EpochCommit{}) // epoch 0 asks, changes nothing
		cancel()
		if err != nil && protocol.StatusOf(err) != protocol.StatusWrongEpoch {
			continue
		}
		if rep.Epoch == r.Epoch() && rep.Ring != 0 && rep.Ring != r.Hash() {
			return fmt.Errorf("node %s committed another ring at epoch %d (fingerprint %#x) than the given membership builds (%#x): give the daemons' config file (--config), or their membership exactly (--nodes cannot give zones or weights)",
				n.ID, rep.Epoch, rep.Ring, r.Hash())
		}
	}
	return nil
}

// waitLinked gives the links one dial timeout to connect, so the pass does
// not skip nodes that simply have not answered HELLO yet.
func waitLinked(ctx context.Context, pool *link.Pool, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		all := true
		for _, s := range pool.Stats() {
			all = all && s.Conns > 0
		}
		if all {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
