package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readReady parses a ready file written by serve or node.
func readReady(t *testing.T, path string) readyInfo {
	t.Helper()
	// The process prints its "listening" line before it writes the file
	// (atomically, by rename), so the file may lag the line a moment.
	var b []byte
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, err = os.ReadFile(path); err == nil || !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("ready file: %v", err)
	}
	var info readyInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatalf("ready file %q: %v", b, err)
	}
	return info
}

// dialable fails t unless something accepts TCP connections at addr.
func dialable(t *testing.T, what, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("%s %q from the ready file: %v", what, addr, err)
	}
	c.Close()
}

func TestServeReadyFileNamesBoundPorts(t *testing.T) {
	verifyNoLeaks(t)
	ready := filepath.Join(t.TempDir(), "serve.ready")
	args := []string{"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--nodes", startNodes(t, 3),
		"--data-dir", t.TempDir(), "--log-level", "error", "--ready-file", ready}
	addr, stop := startServer(t, runServe, args, "distridata serving on ")
	info := readReady(t, ready)
	if info.Listen != addr || info.PID != os.Getpid() || info.TLS != "" {
		t.Fatalf("ready file %+v; want listen %s, pid %d, no TLS", info, addr, os.Getpid())
	}
	dialable(t, "listen", info.Listen)
	dialable(t, "admin", info.Admin)
	if code := stop(); code != exitOK {
		t.Fatalf("serve exited %d", code)
	}
}

func TestNodeReadyFileNamesBoundPort(t *testing.T) {
	verifyNoLeaks(t)
	ready := filepath.Join(t.TempDir(), "node.ready")
	args := []string{"--listen", "127.0.0.1:0", "--engine", "memory", "--log-level", "error", "--ready-file", ready}
	addr, stop := startServer(t, runNode, args, "node 1 listening on ")
	if info := readReady(t, ready); info.Listen != addr {
		t.Fatalf("ready file %+v; want listen %s", info, addr)
	}
	dialable(t, "listen", addr)
	if code := stop(); code != exitOK {
		t.Fatalf("node exited %d", code)
	}
}

// A ready file that cannot be written stops the process (a supervisor
// waiting for it would wait forever) with a failure exit.
func TestReadyFileUnwritableStops(t *testing.T) {
	verifyNoLeaks(t)
	ready := filepath.Join(t.TempDir(), "missing-dir", "x.ready")
	nodeArgs := []string{"--listen", "127.0.0.1:0", "--engine", "memory", "--log-level", "error", "--ready-file", ready}
	if code := runNode(context.Background(), nodeArgs, &syncBuffer{}, &syncBuffer{}); code != exitUnavailable {
		t.Fatalf("node with an unwritable ready file exited %d; want %d", code, exitUnavailable)
	}
	serveArgs := []string{"--listen", "127.0.0.1:0", "--admin", "", "--nodes", startNodes(t, 3),
		"--data-dir", t.TempDir(), "--log-level", "error", "--ready-file", ready}
	if code := runServe(context.Background(), serveArgs, &syncBuffer{}, &syncBuffer{}); code != exitUnavailable {
		t.Fatalf("serve with an unwritable ready file exited %d; want %d", code, exitUnavailable)
	}
}
