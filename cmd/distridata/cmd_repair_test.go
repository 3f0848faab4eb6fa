package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distridata/distridata/internal/tcptest"
	"github.com/distridata/distridata/link"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/ring"
	"github.com/distridata/distridata/storage"
)

// repair finds a key only one node has and copies it to the other owners.
func TestRepairCommand(t *testing.T) {
	var spec []string
	for _, id := range []string{"a", "b", "c"} {
		cfg := storage.DefaultConfig()
		cfg.Listen, cfg.Engine, cfg.Sync = "127.0.0.1:0", storage.EngineMemory, storage.SyncNone
		cfg.Logger = slog.New(slog.DiscardHandler)
		srv, err := storage.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Shutdown(context.Background()) })
		spec = append(spec, id+"="+srv.Addr().String())
	}
	nodes, err := parseNodes(strings.Join(spec, ","))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ring.New(ring.Config{Partitions: 64, Replicas: 3}, nodes, 1)
	if err != nil {
		t.Fatal(err)
	}
	lcfg := link.DefaultConfig()
	lcfg.Logger = slog.New(slog.DiscardHandler)
	pool, err := link.New(lcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pool.SetNodes(map[string]string{"a": nodes[0].Addr})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan replica.Reply, 1)
	pool.Send(ctx, "a", protocol.ReplicaHeader{Epoch: 1}, []protocol.Item{{
		Kind: protocol.ItemPut, Partition: r.Partition([]byte("k")), Version: protocol.Version{TS: 7}, Key: []byte("k"), Value: []byte("v"),
	}}, func(rep replica.Reply) { done <- rep })
	if rep := <-done; rep.Err != nil {
		t.Fatal(rep.Err)
	}
	var out, errb bytes.Buffer
	code := runRepair(ctx, []string{"--nodes", strings.Join(spec, ","), "--partitions", "64"}, &out, &errb)
	if code != exitOK || !strings.Contains(out.String(), "repaired 2 key copies") {
		t.Fatalf("exit %d, out %q, err %q", code, out.String(), errb.String())
	}
}

// Once the nodes have committed a ring, repair runs only under that very
// ring: given another membership it stops with the cause, instead of
// comparing (and copying to) owners the daemons do not use.
func TestRepairCommandRefusesAnotherRing(t *testing.T) {
	var spec []string
	addrs := map[string]string{}
	for _, id := range []string{"a", "b", "c"} {
		cfg := storage.DefaultConfig()
		cfg.Listen, cfg.Engine, cfg.Sync = "127.0.0.1:0", storage.EngineMemory, storage.SyncNone
		cfg.Logger = slog.New(slog.DiscardHandler)
		srv, err := storage.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Shutdown(context.Background()) })
		spec = append(spec, id+"="+srv.Addr().String())
		addrs[id] = srv.Addr().String()
	}
	nodes, err := parseNodes(strings.Join(spec, ","))
	if err != nil {
		t.Fatal(err)
	}
	nodes[0].Zone = "z1" // the daemons' membership has a zone --nodes cannot give
	theirs, err := ring.New(ring.Config{Partitions: 64, Replicas: 3}, nodes, 2)
	if err != nil {
		t.Fatal(err)
	}
	lcfg := link.DefaultConfig()
	lcfg.Logger = slog.New(slog.DiscardHandler)
	pool, err := link.New(lcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pool.SetNodes(addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for id := range addrs {
		if _, err := pool.CommitEpoch(ctx, id, protocol.EpochCommit{ReplicaHeader: protocol.ReplicaHeader{Epoch: 2, Ring: theirs.Hash()}}); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	code := runRepair(ctx, []string{"--nodes", strings.Join(spec, ","), "--partitions", "64"}, &out, &errb)
	if code == exitOK || !strings.Contains(errb.String(), "committed another ring at epoch 2") {
		t.Fatalf("exit %d, out %q, err %q", code, out.String(), errb.String())
	}
	// The daemons' config file gives the zone, so the pass runs.
	var file strings.Builder
	file.WriteString("[ring]\npartitions = 64\n")
	for _, n := range nodes {
		fmt.Fprintf(&file, "[[node]]\nid = %q\naddr = %q\nweight = 1\n", n.ID, n.Addr)
		if n.Zone != "" {
			fmt.Fprintf(&file, "zone = %q\n", n.Zone)
		}
	}
	path := filepath.Join(t.TempDir(), "serve.toml")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := runRepair(ctx, []string{"--config", path}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "checked 64 partitions") {
		t.Fatalf("with --config: exit %d, out %q, err %q", code, out.String(), errb.String())
	}
	// --partition is checked against the file's partition count, not
	// the --partitions default the file replaces.
	errb.Reset()
	if code := runRepair(ctx, []string{"--config", path, "--partition", "64"}, &out, &errb); code == exitOK ||
		!strings.Contains(errb.String(), "is not below the ring's 64 partitions") {
		t.Fatalf("--partition 64 of 64: exit %d, err %q", code, errb.String())
	}
	if code := runRepair(ctx, []string{"--config", path, "--n", "3"}, &out, &errb); code != exitUsage {
		t.Fatalf("--config with --n: exit %d, want usage", code)
	}
}

// stalledNode answers HELLO as a storage node and then reads requests
// without ever replying, like a node wedged after its links came up. It
// stops when the test ends.
func stalledNode(t *testing.T) string {
	t.Helper()
	return tcptest.Serve(t, func(nc net.Conn) {
		var hdr [protocol.HeaderSize]byte
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			return
		}
		h, err := protocol.DecodeHeader(hdr[:], protocol.DefaultMaxFrameSize)
		if err != nil || h.Op != protocol.OpHello {
			return
		}
		if _, err := io.CopyN(io.Discard, nc, int64(h.Length)); err != nil {
			return
		}
		nc.Write(protocol.AppendHelloReply(nil, h.ID, protocol.HelloReply{
			Version: protocol.PeerVersion, ServerID: 9, Limits: protocol.DefaultLimits()}))
		io.Copy(io.Discard, nc) // every request is read, none answered
	})
}

// The ring check before a pass gives up on a node that is linked but
// never answers after the per-request timeout, instead of waiting for
// the command's context (which the CLI never bounds).
func TestCheckNodesRingBoundsEachNode(t *testing.T) {
	addr := stalledNode(t)
	lcfg := link.DefaultConfig()
	lcfg.Logger = slog.New(slog.DiscardHandler)
	pool, err := link.New(lcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pool.SetNodes(map[string]string{"a": addr})
	r, err := ring.New(ring.Config{Partitions: 64, Replicas: 1}, []ring.Node{{ID: "a", Addr: addr, Weight: 1}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	// The bound only catches a check that waits for ctx; the assertion is
	// that ctx is still live when the check returns.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitLinked(ctx, pool, lcfg.DialTimeout)
	if !pool.Up("a") {
		t.Fatal("the stalled node never linked: the test proves nothing")
	}
	if err := checkNodesRing(ctx, pool, r, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("checkNodesRing waited for the command's context, not the per-request timeout")
	}
}
