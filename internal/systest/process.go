package systest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts of process control, each with its reason.
const (
	// readyTimeout bounds how long a started process may take to accept
	// connections: a daemon seeds its clock from nodes for up to 2 s.
	readyTimeout = 15 * time.Second
	// exitTimeout bounds the wait for a killed process to be reaped.
	exitTimeout = 10 * time.Second
	// dialPoll is the pause between readiness probes.
	dialPoll = 20 * time.Millisecond
)

// Proc is one running distridata process. Its methods may be called from
// any goroutine.
type Proc struct {
	Name string // for messages: "node 3", "daemon"
	Addr string // the address it listens on
	Log  string // file holding its stdout and stderr

	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	mu   sync.Mutex
	err  error // its exit status, once done
}

// startProc runs the binary with args, logging into logPath (appended,
// so a restarted process keeps its predecessor's log), and waits until
// addr accepts TCP connections. t.Cleanup kills it.
func startProc(t testing.TB, name, addr, logPath string, args ...string) *Proc {
	t.Helper()
	return startProcEnv(t, name, addr, logPath, nil, args...)
}

// startProcEnv is startProc with env (KEY=VALUE) added to the test
// process's environment.
func startProcEnv(t testing.TB, name, addr, logPath string, env []string, args ...string) *Proc {
	t.Helper()
	p, err := launch(Binary(t), name, addr, logPath, env, args)
	if err != nil {
		t.Fatalf("systest: %v", err)
	}
	t.Cleanup(func() { p.Kill() })
	if err := p.awaitReady(readyTimeout); err != nil {
		t.Fatalf("systest: %v\n%s", err, p.Tail(4096))
	}
	return p
}

func launch(bin, name, addr, logPath string, env, args []string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	// Pdeathsig: a test process that dies must not leave nodes running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", name, err)
	}
	p := &Proc{Name: name, Addr: addr, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go p.reap()
	return p, nil
}

// reap waits for the process so that it never lingers as a zombie.
func (p *Proc) reap() {
	err := p.cmd.Wait()
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
	close(p.done)
}

// awaitReady polls addr until it accepts a connection, the process
// exits, or timeout passes.
func (p *Proc) awaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v", p.Name, p.ExitErr())
		default:
		}
		if c, err := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(dialPoll)
	}
	return fmt.Errorf("%s not accepting on %s after %v", p.Name, p.Addr, timeout)
}

// StartClient runs the binary with args as a client process (nothing to
// wait for: it listens on nothing), logging into a file of t's temporary
// directory. It is for clients that need a process of their own, such as
// `distridata idle`, whose 10,000 connections are 10,000 descriptors.
// t.Cleanup kills it.
func StartClient(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), strings.ReplaceAll(name, " ", "_")+".log")
	p, err := launch(Binary(t), name, "", logPath, nil, args)
	if err != nil {
		t.Fatalf("systest: %v", err)
	}
	t.Cleanup(func() { p.Kill() })
	return p
}

// Wait waits up to timeout for the process to exit by itself and
// returns its exit status, or an error if it is still running.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.ExitErr()
	case <-time.After(timeout):
		return fmt.Errorf("%s (pid %d) still running after %v", p.Name, p.PID(), timeout)
	}
}

// PID is the process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitErr is the process's exit status (nil before it ends or for exit 0).
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Signal sends sig to the process, unless it has already been reaped
// (its PID may then belong to someone else).
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s has exited", p.Name)
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits until the process is reaped. A stopped
// process dies too: SIGKILL needs no SIGCONT.
func (p *Proc) Kill() error {
	if p.Exited() {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(exitTimeout):
		return fmt.Errorf("%s (pid %d) not reaped %v after SIGKILL", p.Name, p.PID(), exitTimeout)
	}
}

// DumpStacks sends SIGQUIT, which makes a Go process write every
// goroutine's stack to its stderr (our log) and exit: for diagnosing a
// stall. It returns the log's tail once the process has exited.
func (p *Proc) DumpStacks() string {
	if p.Signal(syscall.SIGQUIT) == nil {
		select {
		case <-p.done:
		case <-time.After(exitTimeout):
		}
	}
	return p.Tail(256 << 10)
}

// Tail returns at most n bytes from the end of the process's log.
func (p *Proc) Tail(n int) string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// LogCount counts the lines of the process's log that contain all of
// the given substrings.
func (p *Proc) LogCount(subs ...string) int {
	b, _ := os.ReadFile(p.Log)
	n := 0
	for _, line := range bytes.Split(b, []byte("\n")) {
		if containsAll(line, subs) {
			n++
		}
	}
	return n
}

func containsAll(line []byte, subs []string) bool {
	for _, s := range subs {
		if !bytes.Contains(line, []byte(s)) {
			return false
		}
	}
	return true
}

// RSS reads the process's resident set size from /proc/PID/status
// (VmRSS), in bytes.
func (p *Proc) RSS() (int64, error) { return rss(p.PID()) }

// FreePort returns a free loopback host:port, for a daemon's --admin.
func FreePort(t testing.TB) string {
	t.Helper()
	return freePort(t)
}

// freePort reserves a loopback port by binding :0 and releasing it. A
// race with another process taking it is possible but rare on loopback,
// and shows as a start failure, not a wrong result.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("systest: cannot reserve a port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}
