package main

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/distridata/distridata/ring"
)

// A config file is TOML. Top-level keys are serve's flag names; the
// tables [ring], [replica], [limits], [link], [repair] and [tls] hold the
// rest of daemon.Config; [[node]] tables give the membership with zones
// and weights (instead of the nodes key). Every key is a knob below, so
// `config default` prints them all and an unknown key is an error.

// knob is one config-file key bound to a field of serveOptions.
type knob struct {
	key  string                  // "section.key", or "key" at top level
	help string                  // unit, meaning of zero, and why the default
	ptr  func(*serveOptions) any // the field: *int, *int64, *uint, *float64, *bool, *string, *time.Duration
}

// knobs lists every setting a config file can hold, in the order
// `config default` prints them.
var knobs = []knob{
	{"listen", "client address host:port; loopback unless a token is set (or insecure-public)", func(o *serveOptions) any { return &o.Listen }},
	{"admin", "admin HTTP address (/metrics /healthz /readyz /explain /debug/pprof); \"\" disables; it has no auth, so loopback unless insecure-public", func(o *serveOptions) any { return &o.Admin }},
	{"nodes", "storage nodes as ID=ADDR,ID=ADDR (default zone, weight 1); or use [[node]] tables", func(o *serveOptions) any { return &o.Nodes }},
	{"id", "daemon ID, nonzero: the Origin of its versions and the tie-break between daemons", func(o *serveOptions) any { return &o.ID }},
	{"n", "replicas per key", func(o *serveOptions) any { return &o.N }},
	{"w", "default write quorum, 1..n", func(o *serveOptions) any { return &o.W }},
	{"r", "default read quorum, 1..n", func(o *serveOptions) any { return &o.R }},
	{"token-file", "file holding the token clients must present; \"\" means no client auth", func(o *serveOptions) any { return &o.TokenFile }},
	{"node-token-file", "file holding the token storage nodes expect; \"\" sends none", func(o *serveOptions) any { return &o.NodeTokenFile }},
	{"insecure-public", "allow non-loopback listen/admin without auth (do not, outside a lab)", func(o *serveOptions) any { return &o.InsecurePublic }},
	{"log-level", "debug, info, warn or error", func(o *serveOptions) any { return &o.LogLevel }},
	{"data-dir", "directory for hints of writes that owners missed and the saved ring (a move in progress resumes after a restart); \"\" disables both", func(o *serveOptions) any { return &o.DataDir }},
	{"drain-timeout", "on SIGTERM, how long in-flight requests get to finish", func(o *serveOptions) any { return &o.DrainTimeout }},
	{"max-conns", "client connections served at once; the next gets BUSY (well below the fd limit)", func(o *serveOptions) any { return &o.MaxConns }},
	{"timeout", "deadline of requests that carry none: a quorum fsync write fits, a stuck replica does not hold a slot long", func(o *serveOptions) any { return &o.Timeout }},
	{"idle-timeout", "close connections silent this long with nothing in flight; 0 = never", func(o *serveOptions) any { return &o.D.IdleTimeout }},
	{"frame-timeout", "close connections whose partial frame or missing HELLO is older (slowloris bound)", func(o *serveOptions) any { return &o.D.FrameTimeout }},
	{"conn-window", "requests in flight per connection before decoding pauses (bounds one client's share)", func(o *serveOptions) any { return &o.D.ConnWindow }},
	{"conn-window-bytes", "request bytes in flight per connection; one larger frame is admitted alone", func(o *serveOptions) any { return &o.D.ConnWindowBytes }},
	{"max-inbound-buffered", "bytes of unread input before a flooding connection is closed; >= limits.max-frame-size", func(o *serveOptions) any { return &o.D.MaxInboundBuffered }},
	{"output-window", "bytes of unread replies (queued plus estimated in flight) past which a connection stops decoding until its client reads", func(o *serveOptions) any { return &o.D.OutputWindow }},
	{"output-timeout", "close connections whose unread replies make no progress this long (a client that stopped reading)", func(o *serveOptions) any { return &o.D.OutputTimeout }},
	{"max-outbound-buffered", "bytes of unsent replies before a connection is closed; >= output-window + limits.max-frame-size", func(o *serveOptions) any { return &o.D.MaxOutboundBuffered }},
	{"memory-budget", "request bytes in flight plus unread reply bytes queued, over all connections; above it requests get BUSY", func(o *serveOptions) any { return &o.D.MemoryBudget }},
	{"seed-timeout", "how long start waits for storage nodes' clocks before serving", func(o *serveOptions) any { return &o.D.SeedTimeout }},
	{"event-loops", "gnet event loops; 0 = one per CPU", func(o *serveOptions) any { return &o.D.EventLoops }},

	{"ring.partitions", "partition table rows, a power of two; more = finer balance, more memory", func(o *serveOptions) any { return &o.D.Ring.Partitions }},
	{"ring.slack", "fraction over its fair share a node may own, [0,1]; 0 = automatic", func(o *serveOptions) any { return &o.D.Ring.Slack }},
	{"ring.rule", "placement rule the data was written under while no ring change was ever committed: 0 = latest, 1 = releases before 2026-11-26 (the daemon then moves the data to the latest rule; needs --data-dir)", func(o *serveOptions) any { return (*int)(&o.D.Ring.Rule) }},

	{"replica.timeout", "budget of background repairs (and of requests whose ctx has no deadline)", func(o *serveOptions) any { return &o.D.Replica.Timeout }},
	{"replica.read-repair", "reads write the newest version back to stale replicas", func(o *serveOptions) any { return &o.D.Replica.ReadRepair }},
	{"replica.max-async-repairs", "background read repairs in flight; beyond it they are dropped and counted; 0 disables", func(o *serveOptions) any { return &o.D.Replica.MaxAsyncRepairs }},

	{"limits.max-frame-size", "bytes per frame, header included (clients and nodes)", func(o *serveOptions) any { return &o.D.Limits.MaxFrameSize }},
	{"limits.max-pre-auth-frame-size", "bytes per frame before HELLO succeeds: strangers get little memory", func(o *serveOptions) any { return &o.D.Limits.MaxPreAuthFrameSize }},
	{"limits.max-key-size", "bytes per key, at most 65535", func(o *serveOptions) any { return &o.D.Limits.MaxKeySize }},
	{"limits.max-value-size", "bytes per value; must fit a frame with its key", func(o *serveOptions) any { return &o.D.Limits.MaxValueSize }},
	{"limits.max-batch-keys", "items per MPUT/MGET, at most 65535", func(o *serveOptions) any { return &o.D.Limits.MaxBatchKeys }},

	{"link.conns-per-node", "persistent connections per storage node: one fills a socket while another flushes", func(o *serveOptions) any { return &o.D.Link.ConnsPerNode }},
	{"link.queue-len", "requests per connection waiting for the writer; past it Send fails fast", func(o *serveOptions) any { return &o.D.Link.QueueLen }},
	{"link.coalesce", "single-item requests per connection sent as one RBATCH when they wait for the same write; 0 or 1 = off", func(o *serveOptions) any { return &o.D.Link.Coalesce }},
	{"link.max-in-flight", "requests per node admitted and not completed", func(o *serveOptions) any { return &o.D.Link.MaxInFlight }},
	{"link.max-in-flight-bytes", "encoded bytes of those requests per node; >= limits.max-frame-size", func(o *serveOptions) any { return &o.D.Link.MaxInFlightBytes }},
	{"link.dial-timeout", "bound on a dial plus its HELLO round trip", func(o *serveOptions) any { return &o.D.Link.DialTimeout }},
	{"link.backoff-min", "first wait between reconnect attempts; doubles per failure, with jitter", func(o *serveOptions) any { return &o.D.Link.BackoffMin }},
	{"link.backoff-max", "longest wait between reconnect attempts", func(o *serveOptions) any { return &o.D.Link.BackoffMax }},
	{"link.eject-after", "consecutive failures before a node is marked down", func(o *serveOptions) any { return &o.D.Link.EjectAfter }},
	{"link.compress-above", "request bodies of at least this many bytes are S2-compressed when smaller", func(o *serveOptions) any { return &o.D.Link.Seal.CompressAbove }},
	{"link.checksum-above", "request bodies of at least this many bytes carry a CRC-32C", func(o *serveOptions) any { return &o.D.Link.Seal.ChecksumAbove }},

	{"tls.listen", "second client address served over TLS; \"\" = none", func(o *serveOptions) any { return &o.TLSListen }},
	{"tls.cert", "PEM certificate (chain) of the TLS listener", func(o *serveOptions) any { return &o.TLSCert }},
	{"tls.key", "PEM private key of the TLS listener", func(o *serveOptions) any { return &o.TLSKey }},
	{"tls.client-ca", "PEM CA bundle for mutual TLS: clients need a certificate it signed; \"\" = server auth only", func(o *serveOptions) any { return &o.TLSClientCA }},

	{"tls.node-ca", "PEM CA bundle: reach storage nodes over TLS, verifying them; \"\" = plain TCP (switching between the two needs a restart)", func(o *serveOptions) any { return &o.NodeTLSCA }},
	{"tls.node-cert", "PEM client certificate for nodes that require mutual TLS", func(o *serveOptions) any { return &o.NodeTLSCert }},
	{"tls.node-key", "PEM private key of tls.node-cert", func(o *serveOptions) any { return &o.NodeTLSKey }},

	{"repair.hint-max-age", "hints older than this are dropped (anti-entropy covers them)", func(o *serveOptions) any { return &o.D.Repair.HintMaxAge }},
	{"repair.hint-max-bytes", "bytes of stored hints; past it new hints are dropped and counted", func(o *serveOptions) any { return &o.D.Repair.HintMaxBytes }},
	{"repair.hint-queue", "hints waiting in memory for the writer", func(o *serveOptions) any { return &o.D.Repair.HintQueue }},
	{"repair.hint-batch", "hints per synced commit", func(o *serveOptions) any { return &o.D.Repair.HintBatch }},
	{"repair.replay-items-per-sec", "hint replay throttle, items/s: a returning node is not flooded", func(o *serveOptions) any { return &o.D.Repair.ReplayItemsPerSec }},
	{"repair.replay-bytes-per-sec", "hint replay throttle, bytes/s", func(o *serveOptions) any { return &o.D.Repair.ReplayBytesPerSec }},
	{"repair.replay-interval", "how often the replayer looks for hints to deliver", func(o *serveOptions) any { return &o.D.Repair.ReplayInterval }},
	{"repair.batch-items", "items per replay, repair or copy request", func(o *serveOptions) any { return &o.D.Repair.BatchItems }},
	{"repair.batch-bytes", "bytes per replay, repair or copy request", func(o *serveOptions) any { return &o.D.Repair.BatchBytes }},
	{"repair.timeout", "bound on each repair request to a node", func(o *serveOptions) any { return &o.D.Repair.Timeout }},
	{"repair.partitions-per-sec", "background anti-entropy pace; 0 = passes only on demand", func(o *serveOptions) any { return &o.D.Repair.PartitionsPerSec }},
	{"repair.repair-items-per-sec", "anti-entropy write throttle, items/s", func(o *serveOptions) any { return &o.D.Repair.RepairItemsPerSec }},
	{"repair.repair-bytes-per-sec", "anti-entropy write throttle, bytes/s", func(o *serveOptions) any { return &o.D.Repair.RepairBytesPerSec }},
	{"repair.move-items-per-sec", "rebalancing copy throttle, items/s", func(o *serveOptions) any { return &o.D.Repair.MoveItemsPerSec }},
	{"repair.move-bytes-per-sec", "rebalancing copy throttle, bytes/s", func(o *serveOptions) any { return &o.D.Repair.MoveBytesPerSec }},
	{"repair.scan-page", "keys per RSCAN page, at most 65535", func(o *serveOptions) any { return &o.D.Repair.ScanPage }},
	{"repair.max-scan-keys", "keys one anti-entropy repair step holds in memory; bigger mismatching buckets are split", func(o *serveOptions) any { return &o.D.Repair.MaxScanKeys }},
	{"repair.bucket-split", "anti-entropy splits a mismatching bucket 2^N ways per RBUCKETS, N at most 10", func(o *serveOptions) any { return &o.D.Repair.BucketSplit }},
	{"repair.move-retries", "retries of a failing partition copy", func(o *serveOptions) any { return &o.D.Repair.MoveRetries }},
	{"repair.drop-grace", "after a ring change, moved partitions are dropped from the nodes that lost them this much later", func(o *serveOptions) any { return &o.D.Repair.DropGrace }},
	{"repair.drop-partitions-per-sec", "partition drop throttle, partitions/s", func(o *serveOptions) any { return &o.D.Repair.DropPartitionsPerSec }},
	{"repair.drop-interval", "how often due drops (and nodes that missed an epoch commit) are looked at", func(o *serveOptions) any { return &o.D.Repair.DropInterval }},
}

// liveKnobs are the keys a SIGHUP reload applies to the running daemon
// (daemon.LiveFields; the token and TLS files are read again): new
// requests and connections get the new values, requests in flight keep
// theirs, connections that passed HELLO stay authenticated when the token
// changes, and connections keep the certificates they were made with. Every other key keeps its running value until a restart.
// `config default` marks each key; a test keeps this list in step with
// daemon.LiveFields.
var liveKnobs = map[string]bool{
	"nodes": true, "token-file": true, "w": true, "r": true, "max-conns": true, "timeout": true,
	"idle-timeout": true, "frame-timeout": true, "conn-window": true, "conn-window-bytes": true,
	"max-inbound-buffered": true, "max-outbound-buffered": true, "output-window": true,
	"output-timeout": true, "memory-budget": true,
	"replica.timeout": true, "replica.read-repair": true,
	"limits.max-frame-size": true, "limits.max-pre-auth-frame-size": true, "limits.max-key-size": true,
	"limits.max-value-size": true, "limits.max-batch-keys": true,
	// The files are read again: later handshakes use what they hold.
	"tls.cert": true, "tls.key": true, "tls.client-ca": true,
	"tls.node-ca": true, "tls.node-cert": true, "tls.node-key": true,
	// Read at each dial, wait, failure or send (link.Tunables).
	"node-token-file": true, "link.dial-timeout": true, "link.backoff-min": true, "link.backoff-max": true,
	"link.eject-after": true, "link.compress-above": true, "link.checksum-above": true,
	// Read at each request, throttle wait or anti-entropy tick (repair.Tunables).
	"repair.timeout": true, "repair.partitions-per-sec": true,
	"repair.replay-items-per-sec": true, "repair.replay-bytes-per-sec": true,
	"repair.repair-items-per-sec": true, "repair.repair-bytes-per-sec": true,
	"repair.move-items-per-sec": true, "repair.move-bytes-per-sec": true,
	"repair.drop-partitions-per-sec": true,
}

// sectionNotes say, under a table's header in `config default`, why its
// [restart] keys need a restart.
var sectionNotes = map[string]string{
	"link": "[restart] keys here size what each node's link builds at start: its connection slots,\n" +
		"# queues and in-flight window. The rest apply to the next dial, wait, failure or send.",
	"repair": "[restart] keys here size hint storage, queues, batches and scans, or fix the timers and\n" +
		"# plans of loops already running (replay, drops, move retries). Throttles, the pace and the\n" +
		"# timeout apply to the next wait, tick or request.",
}

// knobExempt are the config fields no file sets, and why. The test
// checks that every other field has a knob.
var knobExempt = map[string]string{
	"Listen": "listen", "ID": "id", "Nodes": "nodes / [[node]]", "MaxConns": "max-conns",
	"DefaultTimeout": "timeout", "Token": "token-file", "Admin": "admin", "TLSListen": "tls.listen", "TLS": "tls.cert, tls.key, tls.client-ca", "Logger": "log-level",
	"Ring.Replicas": "n", "Replica.N": "n", "Replica.W": "w", "Replica.R": "r",
	"Replica.Origin": "id", "Replica.OnMiss": "set by the daemon", "Replica.Logger": "log-level",
	"Link.Token": "node-token-file", "Link.Limits": "the daemon's limits, widened field by field (nodes need the same)", "Link.OnStamp": "set by the daemon",
	"Link.Logger": "log-level", "Link.TLS": "tls.node-ca, tls.node-cert, tls.node-key", "Link.Seal": "link.compress-above, link.checksum-above", "Repair.Dir": "data-dir", "Repair.WriteQuorum": "w", "Repair.Logger": "log-level",
	"Clock": "none: a test hook, set only by the faultclock build (faultclock.go)",
}

// loadConfigFile applies the file at path to o: every key must be a knob
// (or a [[node]] table), with a value of the knob's type.
func loadConfigFile(path string, o *serveOptions) error {
	var raw map[string]any
	if _, err := toml.DecodeFile(path, &raw); err != nil {
		return fmt.Errorf("cannot read config %s: %w", path, err)
	}
	if err := applyConfig(raw, o); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

func applyConfig(raw map[string]any, o *serveOptions) error {
	byKey := make(map[string]knob, len(knobs))
	for _, k := range knobs {
		byKey[k.key] = k
	}
	for name, v := range raw {
		if name == "node" {
			nodes, err := decodeNodes(v)
			if err != nil {
				return err
			}
			o.Members = nodes
			continue
		}
		if table, ok := v.(map[string]any); ok {
			for sub, sv := range table {
				if err := setKnob(byKey, name+"."+sub, sv, o); err != nil {
					return err
				}
			}
			continue
		}
		if err := setKnob(byKey, name, v, o); err != nil {
			return err
		}
	}
	return nil
}

func setKnob(byKey map[string]knob, key string, v any, o *serveOptions) error {
	k, ok := byKey[key]
	if !ok {
		return fmt.Errorf("unknown key %q (see `distridata config default`)", key)
	}
	bad := func() error { return fmt.Errorf("key %q: cannot use %v (%T) here", key, v, v) }
	switch p := k.ptr(o).(type) {
	case *string:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		*p = s
	case *bool:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		*p = b
	case *int:
		n, ok := v.(int64)
		if !ok {
			return bad()
		}
		*p = int(n)
	case *int64:
		n, ok := v.(int64)
		if !ok {
			return bad()
		}
		*p = n
	case *uint:
		n, ok := v.(int64)
		if !ok || n < 0 {
			return bad()
		}
		*p = uint(n)
	case *float64:
		switch n := v.(type) {
		case float64:
			*p = n
		case int64:
			*p = float64(n)
		default:
			return bad()
		}
	case *time.Duration:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("key %q: want a duration string such as \"2s\", got %v", key, v)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		*p = d
	default:
		panic(fmt.Sprintf("knob %s has an unsupported type %T", key, p)) // a bug in the table
	}
	return nil
}

// decodeNodes reads [[node]] tables: id, addr, zone, weight (default 1).
func decodeNodes(v any) ([]ring.Node, error) {
	list, ok := v.([]map[string]any)
	if !ok {
		return nil, fmt.Errorf("node must be [[node]] tables, got %T", v)
	}
	var nodes []ring.Node
	for i, t := range list {
		n := ring.Node{Weight: 1}
		for k, fv := range t {
			var ok bool
			switch k {
			case "id":
				n.ID, ok = fv.(string)
			case "addr":
				n.Addr, ok = fv.(string)
			case "zone":
				n.Zone, ok = fv.(string)
			case "weight":
				switch w := fv.(type) {
				case float64:
					n.Weight, ok = w, true
				case int64:
					n.Weight, ok = float64(w), true
				}
			}
			if !ok {
				return nil, fmt.Errorf("[[node]] %d: bad or unknown key %q = %v (want id, addr, zone, weight)", i+1, k, fv)
			}
		}
		if n.ID == "" || n.Addr == "" {
			return nil, fmt.Errorf("[[node]] %d: id and addr are required", i+1)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// writeDefaultConfig prints every knob at its default, each with its
// comment, as a file `serve --config` accepts.
func writeDefaultConfig(w io.Writer) {
	o := defaultServeOptions()
	fmt.Fprintf(w, "# distridata serve configuration (TOML). Flags given on the command line win.\n"+
		"# Durations are strings (\"2s\", \"5m\"); sizes are bytes. SIGHUP reloads the file: keys\n"+
		"# marked [live] apply to new requests and connections (requests in flight keep their\n"+
		"# settings; connections already authenticated stay so when the token changes); keys\n"+
		"# marked [restart] keep their running value until a restart. TLS files are read again\n"+
		"# (new handshakes use them; connections keep theirs). A file that fails validation,\n"+
		"# or a certificate that does not load, changes nothing.\n")
	section := ""
	for _, k := range knobs {
		sec, key, ok := strings.Cut(k.key, ".")
		if !ok {
			sec, key = "", k.key
		}
		if sec != section {
			section = sec
			fmt.Fprintf(w, "\n[%s]\n", sec)
			if note, ok := sectionNotes[sec]; ok {
				fmt.Fprintf(w, "# %s\n", note)
			}
		}
		when := "[restart]"
		if liveKnobs[k.key] {
			when = "[live]"
		}
		fmt.Fprintf(w, "\n# %s %s\n%s = %s\n", when, k.help, key, tomlValue(k.ptr(&o)))
	}
	fmt.Fprintf(w, "\n# Membership with zones and weights, instead of the nodes key:\n"+
		"# [[node]]\n# id = \"1\"\n# addr = \"127.0.0.1:7401\"\n# zone = \"a\"\n# weight = 1.0\n")
}

func tomlValue(p any) string {
	switch v := reflect.ValueOf(p).Elem().Interface().(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case time.Duration:
		return fmt.Sprintf("%q", v.String())
	case float64:
		s := fmt.Sprintf("%g", v)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	default:
		return fmt.Sprint(v)
	}
}
