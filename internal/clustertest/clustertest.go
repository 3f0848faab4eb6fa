// Package clustertest starts whole DistriData clusters inside a test: N
// storage nodes and a daemon on 127.0.0.1 ports, all stopped by
// t.Cleanup. It can kill and restart a node, read a key straight from a
// node (bypassing the daemon), and hand out connected clients.
package clustertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/ring"
	"github.com/distridata/distridata/storage"
)

// stopTimeout bounds each component's shutdown at cleanup.
const stopTimeout = 10 * time.Second

// restartAttempts × restartPause bound how long Restart retries the old
// port, which the kernel may still hold for a moment after a close.
const (
	restartAttempts = 50
	restartPause    = 20 * time.Millisecond
)

// Options shape a cluster. Zero fields take the defaults noted.
type Options struct {
	Nodes  int    // storage nodes; 0 means 3
	Engine string // storage.EngineMemory (0 value) or storage.EnginePebble
	// Sync is storage's sync mode; "" means storage.SyncNone, since tests
	// measure behaviour, not durability (crash tests set SyncAlways).
	Sync string
	// N, W, R default to min(3, Nodes), then min(2, N).
	N, W, R int
	// Token, when set, is required by the daemon and by the nodes.
	Token string
	// Daemon and Storage adjust the configs just before Start.
	Daemon  func(*daemon.Config)
	Storage func(*storage.Config)
	// Logger receives every component's logs; nil discards them unless
	// CLUSTERTEST_LOG is set in the environment.
	Logger *slog.Logger
}

// Cluster is a running cluster. Its methods may be called from the test
// goroutine only (they fail the test on error).
type Cluster struct {
	t      testing.TB
	opts   Options
	Daemon *daemon.Daemon
	nodes  []*Node
}

// Node is one storage node of a cluster.
type Node struct {
	ID   string // ring ID: "1".."N"
	Addr string // fixed for the cluster's life: restarts reuse it
	Dir  string
	cfg  storage.Config

	mu  sync.Mutex
	srv *storage.Server // nil while killed
}

// Start starts the nodes, then the daemon, and registers their shutdown
// with t.Cleanup.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	opts = opts.withDefaults()
	c := &Cluster{t: t, opts: opts}
	dir := t.TempDir()
	var members []ring.Node
	for i := 1; i <= opts.Nodes; i++ {
		n := c.startNode(i, dir)
		members = append(members, ring.Node{ID: n.ID, Addr: n.Addr, Zone: "z" + n.ID, Weight: 1})
	}
	cfg := daemon.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Nodes = members
	cfg.Replica.N, cfg.Replica.W, cfg.Replica.R = opts.N, opts.W, opts.R
	cfg.Ring.Partitions = 1 << 10 // a small table builds fast; placement logic is the same
	cfg.Token = opts.Token
	cfg.Link.Token = opts.Token
	cfg.EventLoops = 1
	cfg.Logger = opts.Logger.With("role", "daemon")
	if opts.Daemon != nil {
		opts.Daemon(&cfg)
	}
	d, err := daemon.Start(cfg)
	if err != nil {
		c.stopNodes()
		t.Fatalf("clustertest: %v", err)
	}
	c.Daemon = d
	t.Cleanup(c.stop)
	return c
}

func (o Options) withDefaults() Options {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Engine == "" {
		o.Engine = storage.EngineMemory
	}
	if o.Sync == "" {
		o.Sync = storage.SyncNone
	}
	if o.N == 0 {
		o.N = min(3, o.Nodes)
	}
	if o.W == 0 {
		o.W = min(2, o.N)
	}
	if o.R == 0 {
		o.R = min(2, o.N)
	}
	if o.Logger == nil {
		var w io.Writer = io.Discard
		if os.Getenv("CLUSTERTEST_LOG") != "" {
			w = os.Stderr
		}
		o.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return o
}

func (c *Cluster) startNode(i int, dir string) *Node {
	c.t.Helper()
	cfg := storage.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Dir = filepath.Join(dir, "node-"+strconv.Itoa(i))
	cfg.Engine = c.opts.Engine
	cfg.Sync = c.opts.Sync
	cfg.ID = uint32(i)
	cfg.Token = c.opts.Token
	cfg.Logger = c.opts.Logger.With("role", "node", "node", i)
	if c.opts.Storage != nil {
		c.opts.Storage(&cfg)
	}
	srv, err := storage.Start(cfg)
	if err != nil {
		c.stopNodes()
		c.t.Fatalf("clustertest: node %d: %v", i, err)
	}
	n := &Node{ID: strconv.Itoa(i), Addr: srv.Addr().String(), Dir: cfg.Dir, cfg: cfg, srv: srv}
	n.cfg.Listen = n.Addr // restarts come back on the same port
	c.nodes = append(c.nodes, n)
	return n
}

// Addr is the daemon's client address.
func (c *Cluster) Addr() string { return c.Daemon.Addr() }

// Nodes returns the storage nodes, in ID order (index i has ID i+1).
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns the node with ring ID id.
func (c *Cluster) Node(id string) *Node {
	for _, n := range c.nodes {
		if n.ID == id {
			return n
		}
	}
	c.t.Fatalf("clustertest: no node %q", id)
	return nil
}

// Owners returns the nodes that own key, in ring preference order.
func (c *Cluster) Owners(key []byte) []*Node {
	r := c.Daemon.Ring()
	_, owners := r.Lookup(key)
	out := make([]*Node, 0, len(owners))
	for _, o := range owners {
		out = append(out, c.Node(r.Node(o).ID))
	}
	return out
}

// Kill shuts node n down (gracefully: its listener and connections close,
// its engine is synced). The daemon sees its links fail.
func (c *Cluster) Kill(n *Node) {
	c.t.Helper()
	if err := c.stopNode(n); err != nil {
		c.t.Errorf("clustertest: kill node %s: %v", n.ID, err)
	}
}

// Crash stops node n like Kill, for a test that has taken its disk away
// (a power cut): the shutdown's errors are expected and ignored.
func (c *Cluster) Crash(n *Node) { _ = c.stopNode(n) }

func (c *Cluster) stopNode(n *Node) error {
	n.mu.Lock()
	srv := n.srv
	n.srv = nil
	n.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	return srv.Shutdown(ctx)
}

// RestartWith is Restart after adjust has changed the node's config, for
// this start and later ones: a power-loss test swaps in the crash clone
// of the node's filesystem.
func (c *Cluster) RestartWith(n *Node, adjust func(*storage.Config)) {
	c.t.Helper()
	n.mu.Lock()
	adjust(&n.cfg)
	n.mu.Unlock()
	c.Restart(n)
}

// Restart starts a killed node again on its old address and directory.
// With the memory engine it comes back empty, like a replaced disk. The
// old address, not a fresh port: a daemon re-addresses a node only as a
// membership change (a new ring epoch, a move, an REPOCH to every node),
// which would turn every restart into a ring change.
func (c *Cluster) Restart(n *Node) {
	c.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return
	}
	var err error
	for range restartAttempts {
		if n.srv, err = storage.Start(n.cfg); err == nil {
			return
		}
		time.Sleep(restartPause)
	}
	c.t.Fatalf("clustertest: restart node %s on %s: %v", n.ID, n.Addr, err)
}

// Client dials the daemon; the connection is closed at cleanup.
func (c *Cluster) Client() *client.Conn {
	c.t.Helper()
	opts := client.DefaultOptions()
	opts.Token = c.opts.Token
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	conn, err := client.Dial(ctx, c.Addr(), opts)
	if err != nil {
		c.t.Fatalf("clustertest: dial daemon: %v", err)
	}
	c.t.Cleanup(func() { conn.Close() })
	return conn
}

// stop shuts the daemon down, then the nodes.
func (c *Cluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := c.Daemon.Shutdown(ctx); err != nil {
		c.t.Errorf("clustertest: daemon shutdown: %v", err)
	}
	c.stopNodes()
}

func (c *Cluster) stopNodes() {
	for _, n := range c.nodes {
		c.Kill(n)
	}
}

// String describes the cluster for test logs.
func (c *Cluster) String() string {
	s := "daemon " + c.Addr()
	for _, n := range c.nodes {
		s += fmt.Sprintf(", node %s %s", n.ID, n.Addr)
	}
	return s
}
