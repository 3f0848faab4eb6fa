package main

import (
	"testing"
)

// The README's promise: `distridata local`, then put and get just work.
func TestLocalPutGetDel(t *testing.T) {
	verifyNoLeaks(t)
	dir := t.TempDir()
	addr, stop := startServer(t, runLocal, []string{"--dir", dir, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--sync", "none", "--log-level", "error"}, "distridata serving on ")
	a := "--addr=" + addr
	if code, _, errs := cli(t, "put", a, "greeting", "hello"); code != exitOK {
		t.Fatalf("put: %d %s", code, errs)
	}
	if code, out, _ := cli(t, "get", a, "greeting"); code != exitOK || out != "hello" {
		t.Fatalf("get: %d %q", code, out)
	}
	if code, _, _ := cli(t, "del", a, "greeting"); code != exitOK {
		t.Fatalf("del: %d", code)
	}
	if code, _, _ := cli(t, "get", a, "greeting"); code != exitNotFound {
		t.Fatalf("get after del: %d", code)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("local exited %d", code)
	}
	// Data survives a restart on the same directory (pebble engine).
	addr, stop = startServer(t, runLocal, []string{"--dir", dir, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-level", "error"}, "distridata serving on ")
	if code, _, _ := cli(t, "put", "--addr="+addr, "k2", "v2"); code != exitOK {
		t.Fatalf("put after restart: %d", code)
	}
	stop()
	if code, _, errs := cli(t, "local", "--admin", "0.0.0.0:7380"); code != exitUsage {
		t.Fatalf("public admin: %d %s", code, errs)
	}
}

func TestLocalOneNodeClampsN(t *testing.T) {
	verifyNoLeaks(t)
	addr, stop := startServer(t, runLocal, []string{"--nodes", "1", "--engine", "memory", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-level", "error"}, "distridata serving on ")
	if code, _, errs := cli(t, "put", "--addr="+addr, "k", "v"); code != exitOK {
		t.Fatalf("put: %d %s", code, errs)
	}
	if code, out, _ := cli(t, "get", "--addr="+addr, "k"); code != exitOK || out != "v" {
		t.Fatalf("get: %d %q", code, out)
	}
	stop()
}
