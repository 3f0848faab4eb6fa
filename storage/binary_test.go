package storage

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds cmd/distridata into a temp dir, from the module root.
func buildBinary(t *testing.T, ctx context.Context) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(t.TempDir(), "distridata")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/distridata")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/distridata: %v\n%s", err, out)
	}
	return bin
}

// nodeProc is a `distridata node` child process.
type nodeProc struct {
	cmd  *exec.Cmd
	addr net.Addr
}

// startNode runs the binary on dir and waits for its "listening" line.
func startNode(t *testing.T, ctx context.Context, bin, dir string) *nodeProc {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, "node", "--listen", "127.0.0.1:0", "--dir", dir, "--engine", "pebble", "--sync", "always", "--id", "3", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nodeProc{cmd: cmd}
	t.Cleanup(p.kill)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("node did not report its address: %v", err)
	}
	const prefix = "node 3 listening on "
	if !strings.HasPrefix(line, prefix) {
		t.Fatalf("unexpected first line %q", line)
	}
	p.addr, err = net.ResolveTCPAddr("tcp", strings.TrimSpace(strings.TrimPrefix(line, prefix)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// kill sends SIGKILL to the child (only the process this test started)
// and reaps it. Idempotent.
func (p *nodeProc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// TestBinaryCrashDurability runs the real binary with --sync always,
// writes 2000 keys (pipelined, every ack awaited), kills it with SIGKILL,
// restarts it on the same directory and finds every acknowledged key with
// its version. SIGKILL keeps the page cache, so this proves recovery from
// the WAL, not fsync; TestServerPowerLoss covers lost unsynced data.
func TestBinaryCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// The build has its own, generous bound: on a loaded machine with a
	// cold cache, compiling pebble alone takes a while.
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer bcancel()
	bin := buildBinary(t, bctx)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	const n = 2000

	p := startNode(t, ctx, bin, dir)
	writeAcked(t, p.addr, 4, n)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	p2 := startNode(t, ctx, bin, dir)
	if got := readAcked(t, p2.addr, n); got != n {
		t.Fatalf("%d of %d acknowledged writes survived SIGKILL", got, n)
	}
	// A clean stop (SIGTERM) exits 0.
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p2.cmd.Wait(); err != nil {
		t.Fatalf("node exit after SIGTERM: %v", err)
	}
}
