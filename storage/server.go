package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/protocol"
)

// Server is a storage node: it serves the replica operations of daemons
// over TCP from one Engine.
//
// Goroutines, all owned by the Server and waited for by Shutdown: one
// accept loop, one committer (the only writer of the engine apart from
// tombstone GC), one GC loop, and per connection a reader (which also
// runs reads inline) and a writer.
type Server struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	eng       Engine
	ln        net.Listener
	clock     *protocol.Clock
	tokenHash [sha256.Size]byte

	// Ring epochs (epoch.go). committed and ring change only under
	// epochMu, in REPOCH; seen only grows, under epochMu, saved first.
	epochMu     sync.Mutex
	committed   atomic.Uint64 // requests below it are refused WRONG_EPOCH
	ring        atomic.Uint64 // the committed ring's fingerprint
	seen        atomic.Uint64 // highest epoch of any request, kept across restarts
	staleLogged atomic.Uint64 // the committed epoch for which a refusal was last logged
	failed      atomic.Bool   // fail-stop: a write or sync failed; refuse writes
	failErr     error         // the error that failed the node; written once, before failCh closes
	failCh      chan struct{} // closed when the node fails-stop
	inline      bool          // apply writes on the readers, not the committer
	stats       counters
	tlsm        tlsMaterial // TLS server config, replaceable (tls.go)

	commitQ    chan *request // bounded: CommitQueue
	syncQ      chan *group   // committer → syncer: applied groups awaiting sync and answers
	freeGroups chan *group   // syncer → committer: the commitGroups groups, recycled
	quit       chan struct{} // closed when shutdown starts: stop accepting and reading
	commitQuit chan struct{} // closed once every connection is gone: committer exits

	mu      sync.Mutex // guards conns and closing; a leaf lock
	conns   map[*conn]struct{}
	closing bool

	connWG   sync.WaitGroup // connection goroutines
	acceptWG sync.WaitGroup // accept loop
	bgWG     sync.WaitGroup // committer and GC

	shutdownOnce sync.Once
	shutdownDone chan struct{}
	shutdownErr  error
}

// Start opens the configured engine, listens and starts serving. It
// returns once the listener is bound: Addr is valid and connections are
// accepted.
func Start(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var eng Engine
	if cfg.engine() == EngineMemory {
		eng = NewMemory()
	} else {
		po := cfg.Pebble
		if po.Logger == nil {
			po.Logger = cfg.logger()
		}
		p, err := OpenPebble(cfg.Dir, po)
		if err != nil {
			return nil, fmt.Errorf("cannot start node: %w", err)
		}
		eng = p
	}
	s, err := StartEngine(cfg, eng)
	if err != nil {
		_ = eng.Close()
		return nil, err
	}
	return s, nil
}

// StartEngine is Start with an engine the caller opened (cfg.Engine and
// cfg.Dir are ignored). The server owns eng from then on and closes it in
// Shutdown; on error the caller still owns it.
func StartEngine(cfg Config, eng Engine) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", cfg.Listen, err)
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.logger(),
		now:          cfg.clock(),
		eng:          eng,
		ln:           ln,
		clock:        protocol.NewClock(cfg.Clock),
		commitQ:      make(chan *request, cfg.CommitQueue),
		syncQ:        make(chan *group, commitGroups),
		freeGroups:   make(chan *group, commitGroups),
		quit:         make(chan struct{}),
		commitQuit:   make(chan struct{}),
		conns:        make(map[*conn]struct{}),
		failCh:       make(chan struct{}),
		shutdownDone: make(chan struct{}),
	}
	s.ln = s.tlsm.wrap(ln, cfg.TLS)
	if cfg.Token != "" {
		s.tokenHash = sha256.Sum256([]byte(cfg.Token))
	}
	_, s.inline = eng.(inlineEngine)
	if err := s.loadEpoch(); err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.clock.Now() // start from the wall clock, not zero
	s.acceptWG.Add(1)
	go s.acceptLoop()
	for range commitGroups {
		s.freeGroups <- new(group)
	}
	s.bgWG.Add(2)
	go s.commitLoop()
	go s.syncLoop()
	if cfg.GCInterval > 0 && cfg.TombstoneGrace > 0 {
		s.bgWG.Add(1)
		go s.gcLoop()
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Engine is the server's engine, for in-process anti-entropy and tests.
func (s *Server) Engine() Engine { return s.eng }

// Failed reports whether the node has failed-stop after a disk error.
func (s *Server) Failed() bool { return s.failed.Load() }

// FailStop is closed when the node fails-stop after a disk error, and
// FailErr then returns that error. The server itself keeps serving reads
// of what it holds; `distridata node` exits instead (see runNode), since
// after a failed WAL write pebble's memory may hold writes that are not
// on disk. Any goroutine may call them.
func (s *Server) FailStop() <-chan struct{} { return s.failCh }

// FailErr is the error that failed the node, or nil while it has not.
func (s *Server) FailErr() error {
	select {
	case <-s.failCh:
		return s.failErr
	default:
		return nil
	}
}

// inlineEngine marks an engine whose Apply never syncs, is cheap, and is
// atomic per key under concurrent calls (the memory engine). The server
// applies its writes on the connection readers: there is no fsync to
// share, so the committer's hand-off would be pure overhead.
type inlineEngine interface {
	Engine
	appliesInline()
}

// Accept backoff after a temporary error (e.g. out of file descriptors):
// long enough not to spin, short enough to recover quickly.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

func (s *Server) acceptLoop() {
	defer s.acceptWG.Done()
	backoff := minAcceptBackoff
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.stopping() {
				return
			}
			s.log.Warn("storage: accept failed; retrying", "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-s.quit:
				return
			}
			backoff = min(2*backoff, maxAcceptBackoff)
			continue
		}
		backoff = minAcceptBackoff
		s.addConn(nc)
	}
}

func (s *Server) stopping() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// addConn registers and starts a connection, unless shutdown has begun.
func (s *Server) addConn(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		_ = nc.Close()
		return
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.stats.conns.Add(1)
	s.connWG.Add(2)
	go c.writeLoop()
	go c.serve()
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.stats.conns.Add(-1)
}

// Shutdown stops accepting, stops reading requests, finishes the ones in
// flight (their replies are written), syncs and closes the engine. It is
// idempotent and safe to call concurrently. If ctx ends first, it closes
// every connection (dropping unwritten replies) and returns ctx's error;
// the rest of the shutdown continues, and a later call waits for it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { go s.shutdown() })
	select {
	case <-s.shutdownDone:
		return s.shutdownErr
	case <-ctx.Done():
		s.closeConns()
		return fmt.Errorf("cannot shut down gracefully: %w", ctx.Err())
	}
}

func (s *Server) shutdown() {
	defer close(s.shutdownDone)
	close(s.quit)
	lnErr := s.ln.Close()
	s.acceptWG.Wait()
	s.stopReading()
	s.connWG.Wait()
	close(s.commitQuit)
	s.bgWG.Wait()
	var syncErr error
	if !s.failed.Load() {
		if syncErr = s.eng.Sync(); syncErr != nil {
			s.fail(syncErr)
		}
	}
	closeErr := s.eng.Close()
	if errors.Is(lnErr, net.ErrClosed) {
		lnErr = nil
	}
	s.shutdownErr = errors.Join(lnErr, syncErr, closeErr)
}

// stopReading wakes every reader blocked in a read: each then drains its
// in-flight requests and closes its connection.
func (s *Server) stopReading() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for c := range s.conns {
		_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	}
}

// closeConns forcibly closes every connection: pending writes fail, so
// their in-flight budget is released without waiting for the peer.
func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.nc.Close()
	}
}

// fail puts the node in the failed state: writes are refused from now on,
// and the fsync is never retried (after a failed fsync the kernel may have
// dropped the dirty pages, so a retry that succeeds proves nothing).
func (s *Server) fail(err error) {
	if s.failed.CompareAndSwap(false, true) {
		s.failErr = err
		close(s.failCh)
		s.log.Error("STORAGE NODE FAILED: a disk write or sync failed; refusing all writes until restarted",
			"node", s.cfg.ID, "err", err)
	}
}

// stampAt is the ReplicaStamp every reply carries: the node's clock, moved
// up to the wall time now, and the committed ring epoch. It does not tick
// the clock's logical counter (a stamp is not a version), so it costs a
// load and a compare, not a compare-and-swap per reply.
func (s *Server) stampAt(now time.Time) protocol.ReplicaStamp {
	s.clock.Observe(uint64(now.UnixMilli()) << protocol.LogicalBits)
	return protocol.ReplicaStamp{Clock: s.clock.Last(), Epoch: s.committed.Load()}
}

// deadline is when a request arriving at arrival must have executed.
func (s *Server) deadline(arrival time.Time, ms uint32) time.Time {
	if ms == 0 {
		return arrival.Add(s.cfg.DefaultDeadline)
	}
	return arrival.Add(time.Duration(ms) * time.Millisecond)
}
