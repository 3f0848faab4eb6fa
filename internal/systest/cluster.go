package systest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/ring"
)

// Options shape a Cluster. Zero fields take the defaults noted.
type Options struct {
	Nodes   int // storage nodes; 0 means 5
	N, W, R int // 0 means 3, 2, 2
	// Timeout is the daemon's --timeout, the deadline of requests that
	// carry none; 0 leaves the daemon's default.
	Timeout time.Duration
	// NodeArgs and DaemonArgs are extra flags for every node and the
	// daemon.
	NodeArgs, DaemonArgs []string
	// NodeDirs maps a node ID to its data directory, replacing the default
	// under the cluster's temporary directory (F9 puts one on a small
	// tmpfs). The caller creates and removes it.
	NodeDirs map[string]string
}

func (o Options) withDefaults() Options {
	if o.Nodes == 0 {
		o.Nodes = 5
	}
	if o.N == 0 {
		o.N, o.W, o.R = 3, 2, 2
	}
	return o
}

// Cluster is a running cluster of real processes: storage nodes (pebble,
// --sync always) behind one proxy each, a daemon whose --nodes are those
// proxies, and a front proxy before the daemon. Its methods fail t on
// error; call them from the test goroutine unless a method says otherwise.
type Cluster struct {
	t     testing.TB
	opts  Options
	dir   string
	Nodes []*Node
	// Daemon is the running daemon; RestartDaemon replaces it.
	Daemon *Proc
	// Front is a proxy before the daemon, for faults on client links.
	Front *Proxy
	ring  *ring.Ring
}

// Node is one storage node: its process, directory, and the proxy the
// daemon reaches it through (whose address, the one in the ring, is fixed
// for the cluster's life).
type Node struct {
	ID    string // ring ID "1".."n"
	Addr  string // its own listen address; a restart binds a new one
	Dir   string
	Proxy *Proxy
	Proc  *Proc // the current process; replaced by Restart
}

// Start starts the nodes, their proxies, the daemon and the front proxy.
// t.Cleanup stops them all.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	opts = opts.withDefaults()
	c := &Cluster{t: t, opts: opts, dir: t.TempDir()}
	var specs []string
	var ringNodes []ring.Node
	for i := 1; i <= opts.Nodes; i++ {
		id := strconv.Itoa(i)
		n := &Node{ID: id, Dir: filepath.Join(c.dir, "node"+id)}
		if d, ok := opts.NodeDirs[id]; ok {
			n.Dir = d
		}
		n.Proc = c.startNode(n)
		n.Addr = n.Proc.Addr
		n.Proxy = newProxy(t, "node"+id, n.Addr)
		c.Nodes = append(c.Nodes, n)
		specs = append(specs, id+"="+n.Proxy.Addr())
		ringNodes = append(ringNodes, ring.Node{ID: id, Addr: n.Proxy.Addr(), Weight: 1})
	}
	c.ring = c.buildRing(ringNodes)
	c.Daemon = c.startDaemon(strings.Join(specs, ","))
	c.Front = newProxy(t, "front", c.Daemon.Addr)
	return c
}

// buildRing computes the daemon's placement the way it does (same
// config, same epoch), so tests can name a key's owners.
func (c *Cluster) buildRing(nodes []ring.Node) *ring.Ring {
	cfg := ring.DefaultConfig()
	cfg.Replicas = c.opts.N
	r, err := ring.New(cfg, nodes, 1)
	if err != nil {
		c.t.Fatalf("systest: cannot build ring: %v", err)
	}
	return r
}

func (c *Cluster) startNode(n *Node) *Proc {
	return startServer(c.t, "node "+n.ID, c.nodeLog(n), nil, c.nodeArgs(n)...)
}

func (c *Cluster) nodeArgs(n *Node) []string {
	return append([]string{"node", "--id", n.ID, "--listen", "127.0.0.1:0", "--dir", n.Dir,
		"--engine", "pebble", "--sync", "always", "--log-level", "warn"}, c.opts.NodeArgs...)
}

func (c *Cluster) nodeLog(n *Node) string { return filepath.Join(c.dir, "node"+n.ID+".log") }

// startDaemon starts the daemon on a port of its own choosing (so
// RestartDaemon, reusing its arguments, binds a new one: clients that
// must outlive a restart use Front). An admin listener, if DaemonArgs
// asks for one, should bind port 0 too; Proc.Admin names it.
func (c *Cluster) startDaemon(nodes string) *Proc {
	// The daemon's data (its hints queue) lives with the cluster: the
	// default, ./data/daemon, would land in the source tree and carry
	// hints from one test's cluster into the next.
	args := []string{"serve", "--listen", "127.0.0.1:0", "--nodes", nodes, "--data-dir", filepath.Join(c.dir, "daemon"),
		"--n", strconv.Itoa(c.opts.N), "--w", strconv.Itoa(c.opts.W), "--r", strconv.Itoa(c.opts.R),
		"--log-level", "info",
		// No admin listener unless DaemonArgs asks for one (a later flag
		// wins): the default, 127.0.0.1:7380, is one port for every daemon
		// of every test process running at once.
		"--admin", ""}
	if c.opts.Timeout > 0 {
		args = append(args, "--timeout", c.opts.Timeout.String())
	}
	args = append(args, c.opts.DaemonArgs...)
	env := []string{"DISTRIDATA_FAULT_CLOCK_FILE=" + c.skewFile()}
	return startServer(c.t, "daemon", filepath.Join(c.dir, "daemon.log"), env, args...)
}

// skewFile is where SkewDaemonClock writes the daemon's clock skew.
func (c *Cluster) skewFile() string { return filepath.Join(c.dir, "daemon.skew") }

// SkewDaemonClock sets the skew of the wall clock under the daemon's
// version clock to d (0 = real time; it must differ from the current
// skew) and waits until the daemon has logged that it applied it. The
// daemon reads the file when it stamps a version or answers a
// HELLO, at most every 10 ms, so something must be writing meanwhile: a
// workload, or the HELLO of the probe connection opened here. Only the
// faultclock build (which Binary makes) has this hook.
func (c *Cluster) SkewDaemonClock(d time.Duration) {
	c.t.Helper()
	const applied = "faultclock: wall clock skew now "
	before := c.Daemon.LogCount(applied)
	tmp := c.skewFile() + ".tmp"
	if err := os.WriteFile(tmp, []byte(d.String()+"\n"), 0o644); err != nil {
		c.t.Fatalf("systest: %v", err)
	}
	if err := os.Rename(tmp, c.skewFile()); err != nil { // atomic: never half a duration
		c.t.Fatalf("systest: %v", err)
	}
	deadline := time.Now().Add(readyTimeout)
	for c.Daemon.LogCount(applied) == before {
		if time.Now().After(deadline) {
			c.t.Fatalf("systest: daemon did not apply clock skew %v within %v (is it a faultclock build?)", d, readyTimeout)
		}
		time.Sleep(skewPoll)
		c.Dial(c.Addr()).Close() // a HELLO reads the clock
	}
	if n := c.Daemon.LogCount(applied + d.String()); n == 0 {
		c.t.Fatalf("systest: daemon applied another clock skew than %v:\n%s", d, c.Daemon.Tail(1024))
	}
}

// skewPoll is the pause between checks that the daemon applied a skew:
// the daemon re-reads its skew file at most every 10 ms.
const skewPoll = 10 * time.Millisecond

// Addr is the daemon's own address (no proxy in between); RestartDaemon
// changes it.
func (c *Cluster) Addr() string { return c.Daemon.Addr }

// Owners returns the nodes that hold key's replicas, preferred first.
func (c *Cluster) Owners(key []byte) []*Node {
	_, ids := c.ring.Lookup(key)
	out := make([]*Node, 0, len(ids))
	for _, i := range ids {
		out = append(out, c.nodeByID(c.ring.Node(i).ID))
	}
	return out
}

func (c *Cluster) nodeByID(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	c.t.Fatalf("systest: no node %q", id)
	return nil
}

// Kill SIGKILLs node n and waits until it is gone. Its proxy refuses
// connections until Restart: the dead node's port may be anyone's now.
func (c *Cluster) Kill(n *Node) {
	c.t.Helper()
	n.Proxy.SetUpstream("")
	if err := n.Proc.Kill(); err != nil {
		c.t.Fatalf("systest: %v", err)
	}
}

// Restart starts node n again on its directory (a killed process's
// pebble lock dies with it) and a new port, and points its proxy there:
// the daemon sees the same node at the same address.
func (c *Cluster) Restart(n *Node) {
	c.t.Helper()
	n.Proc = c.startNode(n)
	n.Addr = n.Proc.Addr
	n.Proxy.SetUpstream(n.Addr)
}

// TryRestart starts node n again like Restart, but returns a start that
// fails (the process exits before it writes its ready file, or is not ready
// in time) as an error instead of failing the test. n.Proc is the new
// process either way, and t.Cleanup kills it.
func (c *Cluster) TryRestart(n *Node) error {
	c.t.Helper()
	p, err := tryStartServer(c.t, "node "+n.ID, c.nodeLog(n), nil, c.nodeArgs(n)...)
	n.Proc = p
	if err == nil {
		n.Addr = p.Addr
		n.Proxy.SetUpstream(n.Addr)
	}
	return err
}

// Pause sends SIGSTOP to node n: its sockets stay open but nothing is
// answered, the nastiest kind of slow.
func (c *Cluster) Pause(n *Node) { c.signal(n.Proc, syscall.SIGSTOP) }

// Resume sends SIGCONT to a paused node.
func (c *Cluster) Resume(n *Node) { c.signal(n.Proc, syscall.SIGCONT) }

func (c *Cluster) signal(p *Proc, sig syscall.Signal) {
	c.t.Helper()
	if err := p.Signal(sig); err != nil {
		c.t.Fatalf("systest: cannot signal %s: %v", p.Name, err)
	}
}

// KillDaemon SIGKILLs the daemon. Front refuses connections until
// RestartDaemon.
func (c *Cluster) KillDaemon() {
	c.t.Helper()
	c.Front.SetUpstream("")
	if err := c.Daemon.Kill(); err != nil {
		c.t.Fatalf("systest: %v", err)
	}
}

// RestartDaemon starts the daemon again with the same arguments, on a
// new port (Addr changes), and points Front at it: clients that live
// across the restart reach the daemon through Front.
func (c *Cluster) RestartDaemon() {
	c.t.Helper()
	args := slices.Clone(c.Daemon.cmd.Args[1:])
	if i := slices.Index(args, "--ready-file"); i >= 0 {
		args = slices.Delete(args, i, i+2) // startServer adds it again
	}
	env := []string{"DISTRIDATA_FAULT_CLOCK_FILE=" + c.skewFile()}
	c.Daemon = startServer(c.t, "daemon", c.Daemon.Log, env, args...)
	c.Front.SetUpstream(c.Daemon.Addr)
}

// Dial connects a client to addr (the daemon or the front proxy). The
// connection is closed by t.Cleanup too.
func (c *Cluster) Dial(addr string) *client.Conn {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, addr, client.DefaultOptions())
	if err != nil {
		c.t.Fatalf("systest: cannot dial %s: %v", addr, err)
	}
	c.t.Cleanup(func() { conn.Close() })
	return conn
}

// ClearToxics heals every proxy.
func (c *Cluster) ClearToxics() {
	for _, n := range c.Nodes {
		n.Proxy.Clear()
	}
	c.Front.Clear()
}

func (c *Cluster) String() string {
	return fmt.Sprintf("cluster(%d nodes, N=%d W=%d R=%d, daemon %s, dir %s)",
		len(c.Nodes), c.opts.N, c.opts.W, c.opts.R, c.Daemon.Addr, c.dir)
}
