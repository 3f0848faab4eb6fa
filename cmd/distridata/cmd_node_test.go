package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/storage"
)

// walWriteFailures fails every write and sync of pebble's WAL while on:
// what a full disk does to a node.
func walWriteFailures() *errorfs.Toggle {
	return &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			if strings.HasSuffix(op.Path, ".log") {
				return errorfs.ErrInjected
			}
		}
		return nil
	})}
}

// rawPut sends one replica PUT straight to a node and reports whether
// it was answered OK (a closed connection is not).
func rawPut(t *testing.T, addr, key string, ts uint64) (protocol.Status, bool) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	req := protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.PeerVersion, Role: protocol.RolePeer})
	req = protocol.AppendReplicaOp(req, 2, protocol.ReplicaHeader{}, protocol.Item{Kind: protocol.ItemPut,
		Partition: 1, Key: []byte(key), Value: []byte("v"), Version: protocol.Version{TS: ts << protocol.LogicalBits, Origin: 1}})
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the HELLO reply, then the PUT's
		f, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrameSize)
		if err != nil {
			return 0, false // closed without an answer
		}
		if f.ID != 2 {
			continue
		}
		body, err := f.Open(nil, protocol.DefaultMaxFrameSize)
		if err != nil {
			t.Fatal(err)
		}
		_, res, err := protocol.DecodeReplicaReply(f.Header, body)
		if err != nil {
			t.Fatal(err)
		}
		return res.Status, res.Status == protocol.StatusOK
	}
	return 0, false
}

// TestNodeExitsOnDiskFault: a node whose WAL write fails answers that
// write with an error (never OK), and `distridata node` then exits with
// exitDiskFault and one FATAL line saying why and what to do.
func TestNodeExitsOnDiskFault(t *testing.T) {
	inj := walWriteFailures()
	cfg := storage.DefaultConfig()
	cfg.Listen, cfg.Engine, cfg.Dir, cfg.Sync = "127.0.0.1:0", storage.EnginePebble, "/db", storage.SyncAlways
	cfg.Pebble.FS = errorfs.Wrap(vfs.NewMem(), inj)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := storage.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background()) // waits for the shutdown failStop began
	var stderr bytes.Buffer
	code := make(chan int, 1)
	go func() { code <- serveNode(context.Background(), s, time.Second, &stderr) }()
	if st, ok := rawPut(t, s.Addr().String(), "before", 1); !ok {
		t.Fatalf("write before the fault: %v", st)
	}
	inj.On()
	if _, ok := rawPut(t, s.Addr().String(), "during", 2); ok {
		t.Fatal("a write the disk refused was answered OK")
	}
	select {
	case c := <-code:
		if c != exitDiskFault || !strings.Contains(stderr.String(), "FATAL: disk write or sync failed") {
			t.Fatalf("exit %d, stderr %q; want %d and a FATAL line", c, stderr.String(), exitDiskFault)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not exit after its disk failed")
	}
}
