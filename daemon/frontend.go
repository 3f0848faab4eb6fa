package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/distridata/distridata/protocol"
)

// Sweep cadence bounds: the sweeper runs a quarter of the shortest
// timeout apart, so a deadline is enforced within 25% of its length, but
// never more often than minSweep (it walks every connection) nor less
// often than maxSweep.
const (
	minSweep = 10 * time.Millisecond
	maxSweep = time.Second
)

// drainPoll is how often Shutdown looks at in-flight work while draining.
const drainPoll = 2 * time.Millisecond

// frontend is the gnet event handler: the client-facing half of a daemon.
type frontend struct {
	gnet.BuiltinEventEngine

	cfg       Config // with defaults applied; its live fields are read from tun
	tun       atomic.Pointer[tunables]
	store     Store
	async     asyncStore // store, if it can start requests without waiting; else nil
	clock     *protocol.Clock
	epoch     func() uint64
	moreStats func(*bytes.Buffer) // appends replica and link lines; may be nil
	log       *slog.Logger
	m         metrics

	eng     gnet.Engine // set in OnBoot, before booted is closed
	addr    string      // likewise
	booted  chan struct{}
	runDone chan struct{} // closed when gnet.Run returns
	runErr  error         // gnet.Run's result, read after runDone

	baseCtx    context.Context // parent of every request ctx
	cancelBase context.CancelFunc
	workers    sync.WaitGroup // requests being served
	pool       workerPool     // the goroutines serving them (workers.go)
	draining   atomic.Bool

	regMu    sync.Mutex // guards sessions; taken before any session.mu
	sessions map[*session]struct{}
	victims  []*session   // sweeper scratch; OnTick goroutine only
	watch    *outputWatch // wakes loops whose clients owe reads (output.go)

	logLimit rateLimit
}

// startFrontend listens on cfg.Listen and serves store until shutdown.
// It returns once gnet is accepting connections (OnBoot has run).
func startFrontend(cfg Config, store Store, clock *protocol.Clock, epoch func() uint64, moreStats func(*bytes.Buffer)) (*frontend, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validateFront(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	fe := &frontend{
		cfg: cfg, store: store, clock: clock, epoch: epoch, moreStats: moreStats,
		log:      cfg.Logger.With("component", "frontend"),
		booted:   make(chan struct{}),
		runDone:  make(chan struct{}),
		sessions: make(map[*session]struct{}),
		watch:    newOutputWatch(),
	}
	fe.async, _ = store.(asyncStore)
	fe.tun.Store(newTunables(cfg))
	fe.baseCtx, fe.cancelBase = context.WithCancel(context.Background())
	opts := []gnet.Option{
		gnet.WithMulticore(cfg.EventLoops == 0),
		gnet.WithNumEventLoop(cfg.EventLoops),
		gnet.WithReuseAddr(true), // restarts must not fail with "address already in use"
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTicker(true),
		gnet.WithLogger(gnetLogger{cfg.Logger.With("component", "gnet")}),
	}
	go func() {
		defer close(fe.runDone)
		fe.runErr = gnet.Run(fe, "tcp://"+cfg.Listen, opts...)
	}()
	select {
	case <-fe.booted:
		go fe.watch.run()
		return fe, nil
	case <-fe.runDone:
		fe.cancelBase()
		return nil, fmt.Errorf("cannot listen on %s: %w", cfg.Listen, fe.runErr)
	}
}

// setTunables makes cfg's live settings those of new connections,
// wake-ups and requests; cfg has its defaults applied and passed Check.
// Any goroutine (Reload).
func (fe *frontend) setTunables(cfg Config) { fe.tun.Store(newTunables(cfg)) }

// OnBoot records the engine and the bound address (port 0 resolved).
func (fe *frontend) OnBoot(eng gnet.Engine) gnet.Action {
	fe.eng = eng
	fe.addr = boundAddr(eng, fe.cfg.Listen)
	close(fe.booted)
	return gnet.None
}

// boundAddr asks the kernel which address the listener got: gnet does not
// expose it, and Listen may have asked for port 0.
func boundAddr(eng gnet.Engine, fallback string) string {
	fd, err := eng.Dup()
	if err != nil {
		return fallback
	}
	defer syscall.Close(fd)
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return fallback
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *syscall.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	}
	return fallback
}

// OnOpen admits a connection, or answers BUSY and closes it when the
// daemon is full or draining.
func (fe *frontend) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	// Add first, then check: loops open connections concurrently.
	if n := fe.m.connsOpen.Add(1); n > int64(fe.tun.Load().maxConns) || fe.draining.Load() {
		fe.m.connsOpen.Add(-1)
		fe.m.connsRejected.Add(1)
		fe.m.countStatus(protocol.StatusBusy)
		return protocol.AppendStatusReply(nil, protocol.OpHello, 0, protocol.StatusBusy), gnet.Close
	}
	fe.m.connsAccepted.Add(1)
	s := newSession(fe, c, time.Now().UnixNano())
	c.SetContext(s)
	fe.regMu.Lock()
	fe.sessions[s] = struct{}{}
	fe.regMu.Unlock()
	return nil, gnet.None
}

// OnClose forgets the connection; requests still in flight drop their
// replies when they complete.
func (fe *frontend) OnClose(c gnet.Conn, err error) gnet.Action {
	s, ok := c.Context().(*session)
	if !ok {
		return gnet.None // refused in OnOpen
	}
	reason := s.markClosed()
	s.forgetOutput()
	fe.regMu.Lock()
	delete(fe.sessions, s)
	fe.regMu.Unlock()
	fe.m.connsOpen.Add(-1)
	switch {
	case reason != "":
		fe.logLimited("closed connection", "remote", s.remote, "reason", reason)
	case err != nil:
		fe.log.Debug("connection closed", "remote", s.remote, "err", err)
	}
	return gnet.None
}

// OnTick sweeps the registry for stale partial frames, missing HELLOs and
// idle connections. It runs on gnet's ticker goroutine, not on a loop, so
// it reads only the sessions' atomics and mutex-guarded fields and closes
// through Conn.Close, which is safe off the loop.
func (fe *frontend) OnTick() (time.Duration, gnet.Action) {
	now := time.Now().UnixNano()
	t := fe.tun.Load()
	fe.regMu.Lock()
	for s := range fe.sessions {
		if reason, counter := s.expired(now, t); reason != "" && s.decideClose(reason) {
			counter.Add(1)
			fe.victims = append(fe.victims, s)
		}
	}
	fe.regMu.Unlock()
	for i, s := range fe.victims {
		_ = s.gc.Close()
		fe.victims[i] = nil
	}
	fe.victims = fe.victims[:0]
	return t.sweepInterval(), gnet.None
}

// statsText renders STATS: the front end's counters, then the store's.
func (fe *frontend) statsText() []byte {
	var b bytes.Buffer
	fe.m.appendText(&b)
	if fe.moreStats != nil {
		fe.moreStats(&b)
	}
	return b.Bytes()
}

// shutdown drains and stops the front end; see Daemon.Shutdown. It is
// idempotent: later calls wait for the same stop.
func (fe *frontend) shutdown(ctx context.Context) error {
	fe.draining.Store(true)
	err := fe.drain(ctx)
	// Past the drain (or its deadline), cut what is left: cancel request
	// contexts so store calls return, then stop gnet, which closes every
	// connection after flushing what it holds.
	fe.cancelBase()
	// Parked workers go now, busy ones after their (cancelled) request:
	// even a shutdown that gives up below leaves none parked for ever.
	fe.pool.close()
	fe.watch.close()
	// Stop's own error is either ctx's or "already shutting down" (a
	// repeated Shutdown); waiting for gnet.Run to return is what counts.
	_ = fe.eng.Stop(ctx)
	select {
	case <-fe.runDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	fe.workers.Wait() // bounded: every store call returns by its cancelled ctx
	fe.pool.wg.Wait()
	return err
}

// drain waits until no request is in flight and every reply has been
// handed to gnet, or ctx ends.
func (fe *frontend) drain(ctx context.Context) error {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for !fe.quiet() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (fe *frontend) quiet() bool {
	if fe.m.inFlight.Load() > 0 {
		return false
	}
	fe.regMu.Lock()
	defer fe.regMu.Unlock()
	for s := range fe.sessions {
		if !s.drained() {
			return false
		}
	}
	return true
}

// logLimited logs at info level at most logBurst lines per second, so a
// flood of bad clients cannot flood the log.
func (fe *frontend) logLimited(msg string, args ...any) {
	if fe.logLimit.allow(time.Now().Unix()) {
		fe.log.Info(msg, args...)
	}
}

// logBurst is the per-second cap of logLimited lines.
const logBurst = 20

// rateLimit allows logBurst events per wall-clock second.
type rateLimit struct {
	sec   atomic.Int64
	count atomic.Int64
}

func (r *rateLimit) allow(sec int64) bool {
	if r.sec.Load() != sec {
		r.sec.Store(sec)
		r.count.Store(0)
	}
	return r.count.Add(1) <= logBurst
}
