package systest

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	// readyTimeout bounds how long a started process may take to write
	// its ready file: a daemon seeds its clock from nodes for up to 2 s.
	readyTimeout = 15 * time.Second
	// exitTimeout bounds the wait for a killed process to be reaped.
	exitTimeout = 10 * time.Second
	// readyPoll is the pause between looks for the ready file.
	readyPoll = 10 * time.Millisecond
)

// Proc is one running distridata process. Its methods may be called from
// any goroutine.
type Proc struct {
	Name  string // for messages: "node 3", "daemon"
	Addr  string // the address it listens on, from its ready file
	Admin string // its admin HTTP address, if it runs one
	Log   string // file holding its stdout and stderr

	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	mu   sync.Mutex
	err  error // its exit status, once done
}

// readyInfo is what serve and node write to --ready-file once every
// listener is bound (cmd/distridata/ready_file.go).
type readyInfo struct {
	Listen string `json:"listen"`
	Admin  string `json:"admin"`
}

// startServer runs the binary with args, which must bind port 0, plus
// --ready-file, logging into logPath (appended, so a restarted process
// keeps its predecessor's log), with env (KEY=VALUE) added to the test
// process's environment. It waits for the ready file and takes the
// addresses from it: no port is ever picked here and bound later, so no
// other process can take it in between. t.Cleanup kills the process.
func startServer(t testing.TB, name, logPath string, env []string, args ...string) *Proc {
	t.Helper()
	p, err := tryStartServer(t, name, logPath, env, args...)
	if err != nil {
		t.Fatalf("systest: %v\n%s", err, p.Tail(4096))
	}
	return p
}

// tryStartServer is startServer returning a process that exits before it
// is ready, or is not ready in time, as an error (with the process, for
// its log) instead of failing t. Failing to start the binary fails t.
func tryStartServer(t testing.TB, name, logPath string, env []string, args ...string) (*Proc, error) {
	t.Helper()
	ready := strings.TrimSuffix(logPath, ".log") + ".ready"
	if err := os.Remove(ready); err != nil && !os.IsNotExist(err) {
		t.Fatalf("systest: %v", err) // a predecessor's file; it is dead
	}
	p, err := launch(Binary(t), name, logPath, env, append(args, "--ready-file", ready))
	if err != nil {
		t.Fatalf("systest: %v", err)
	}
	t.Cleanup(func() { p.Kill() })
	info, err := p.awaitReady(ready, readyTimeout)
	p.Addr, p.Admin = info.Listen, info.Admin
	return p, err
}

func launch(bin, name, logPath string, env, args []string) (*Proc, error) {
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
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
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

// awaitReady polls for the ready file at path (written atomically, once
// every listener is bound) until it appears, the process exits, or
// timeout passes.
func (p *Proc) awaitReady(path string, timeout time.Duration) (readyInfo, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return readyInfo{}, fmt.Errorf("%s exited before it was ready: %v", p.Name, p.ExitErr())
		default:
		}
		b, err := os.ReadFile(path)
		if err == nil {
			var info readyInfo
			if err := json.Unmarshal(b, &info); err != nil || info.Listen == "" {
				return info, fmt.Errorf("%s wrote a bad ready file %q: %v", p.Name, b, err)
			}
			return info, nil
		}
		time.Sleep(readyPoll)
	}
	return readyInfo{}, fmt.Errorf("%s wrote no ready file within %v", p.Name, timeout)
}

// StartClient runs the binary with args as a client process (nothing to
// wait for: it listens on nothing), logging into a file of t's temporary
// directory. It is for clients that need a process of their own, such as
// `distridata idle`, whose 10,000 connections are 10,000 descriptors.
// t.Cleanup kills it.
func StartClient(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), strings.ReplaceAll(name, " ", "_")+".log")
	p, err := launch(Binary(t), name, logPath, nil, args)
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
