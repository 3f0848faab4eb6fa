package daemon

import (
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/distridata/distridata/protocol"
)

// The output window. A connection stops decoding requests while its
// queued replies (s.out, plus gnet's outbound buffer, plus the estimated
// replies of the requests in flight) exceed Config.OutputWindow, and
// resumes once its client has read them. Without it a client that
// pipelines GETs and never reads made the daemon read every value it
// asked for, until the output cap closed it tens of MiB later (H6), and
// one that did read could cross the cap before the loop flushed (L3).
//
// gnet drains its outbound buffer on the loop and says nothing when it
// has, so a frontend goroutine, the output watcher, wakes the loop of
// each connection that has replies waiting in gnet's buffer; OnTraffic
// then looks at OutboundBuffered, resumes decoding, or closes the
// connection when its output made no progress for OutputTimeout.
//
// A reply's size is known only when its request completes, so a request
// is charged an estimate when it is admitted: exact bounds for writes,
// and for reads the size the connection's recent reads of that opcode
// had, learned per connection. A connection's first read is charged a
// whole window, so it runs alone until its size is known.

// Output watcher poll bounds: a connection whose client drains its
// replies is looked at every outputPollMin, so a reader waits at most
// that long for decoding to resume; one whose output does not move is
// looked at half as often each time, down to every outputPollMax.
const (
	outputPollMin = time.Millisecond
	outputPollMax = 64 * time.Millisecond
)

const (
	reasonOutputCap   = "unread replies over MaxOutboundBuffered"
	reasonOutputStall = "unread replies made no progress for OutputTimeout"
)

// writeReplySize is the reply of a PUT or DEL: a header and a version.
const writeReplySize = protocol.HeaderSize + protocol.VersionSize

// hints are the reply sizes a connection learned for its reads, in
// bytes; 0 means none seen yet. Guarded by session.mu.
type hints struct{ get, mget int }

// learn records a reply of n bytes to op. A larger reply raises the hint
// at once; smaller ones lower it a quarter of the way each, so a run of
// small reads after a large one regains its pipelining within a few
// dozen replies, while one small reply among large ones barely moves it.
func (h *hints) learn(op protocol.Opcode, n int) {
	p := h.slot(op)
	if p == nil {
		return
	}
	if *p == 0 || n > *p {
		*p = n
		return
	}
	*p -= (*p - n) / 4
}

func (h *hints) slot(op protocol.Opcode) *int {
	switch op {
	case protocol.OpGet:
		return &h.get
	case protocol.OpMGet:
		return &h.mget
	}
	return nil
}

// replyEstimate is the reply bytes a request op is charged while in
// flight. Loop only; caller holds s.mu.
func (s *session) replyEstimate(op protocol.Opcode) int {
	switch op {
	case protocol.OpPut, protocol.OpDel:
		return writeReplySize
	case protocol.OpMPut:
		return protocol.HeaderSize + 2 + s.tun.limits.MaxBatchKeys*(1+protocol.VersionSize)
	}
	if p := s.hints.slot(op); p != nil && *p > 0 {
		return *p
	}
	return s.tun.outputWindow // unknown: admitted alone
}

// outputAdmits reports whether a request whose reply is estimated at est
// bytes fits the output window: the queue must be below the window, and
// the queue plus the replies in flight plus est within it, unless
// nothing is in flight (so a reply larger than the window still gets
// through). Loop only; caller holds s.mu.
func (s *session) outputAdmits(est int) bool {
	w := s.tun.outputWindow
	queued := len(s.out) + int(s.outBuffered.Load())
	if queued >= w {
		return false
	}
	return s.inflightReply == 0 || queued+s.inflightReply+est <= w
}

// outputState is what the loop last saw of gnet's outbound buffer. Loop
// only.
type outputState struct {
	last       int           // OutboundBuffered at the last look
	stallSince int64         // unix ns of the last progress while bytes wait; 0 = none wait
	progressed bool          // the buffer shrank since the watch was last scheduled
	gap        time.Duration // the watcher's poll interval for this connection
}

// observeOutput looks at gnet's outbound buffer: it mirrors its size for
// completions, charges it to the memory budget, and returns a close
// reason when it has not shrunk for OutputTimeout. Loop only.
func (s *session) observeOutput(c gnet.Conn, now int64) string {
	o := &s.ob
	n := c.OutboundBuffered()
	switch {
	case n == 0:
		o.stallSince = 0
	case n < o.last:
		o.stallSince = now
		o.progressed = true
	case o.stallSince == 0:
		o.stallSince = now
	}
	if n != o.last { // the gauge is shared by every loop: touch it only on change
		s.fe.m.memOutput.Add(int64(n - o.last))
		o.last = n
		s.outBuffered.Store(int64(n))
	}
	if o.stallSince != 0 && now-o.stallSince > int64(s.tun.outputTimeout) {
		if s.decideClose(reasonOutputStall) {
			s.fe.m.outputStalls.Add(1)
		}
		return reasonOutputStall
	}
	return ""
}

// forgetOutput releases the connection's share of the memory budget and
// its watch. OnClose only.
func (s *session) forgetOutput() {
	s.fe.m.memOutput.Add(-int64(s.ob.last))
	s.ob.last = 0
	if s.pollAt.Swap(0) != 0 {
		s.fe.watch.remove(s)
	}
}

// schedulePoll asks the watcher to wake the loop while replies wait in
// gnet's buffer or the output window holds decoding: sooner while the
// client drains them, later while it does not. Loop only.
func (s *session) schedulePoll(now int64) {
	o := &s.ob
	if o.last == 0 && !s.outPaused {
		o.gap, o.progressed = 0, false
		if s.pollAt.Load() != 0 && s.pollAt.Swap(0) != 0 {
			s.fe.watch.remove(s)
		}
		return
	}
	switch {
	case o.gap == 0:
		o.gap = outputPollMin
	case o.progressed:
		o.gap = max(o.gap/2, outputPollMin)
	default:
		o.gap = min(o.gap*2, outputPollMax)
	}
	o.progressed = false
	at := now + int64(o.gap)
	switch prev := s.pollAt.Swap(at); {
	case prev == 0:
		s.fe.watch.add(s)
	case at < prev:
		kick(s.fe.watch.kick) // the watcher may be asleep until prev
	}
}

// outputWatch is the output watcher: it wakes the loop of each watched
// session when its pollAt comes. Ownership: startFrontend starts run,
// shutdown stops it (close) and waits. Lock order: mu is a leaf.
type outputWatch struct {
	mu   sync.Mutex
	set  map[*session]struct{}
	kick chan struct{} // capacity 1: the set or a pollAt moved earlier
	stop chan struct{}
	done chan struct{}
	once sync.Once  // closes stop
	due  []*session // run only
}

func newOutputWatch() *outputWatch {
	return &outputWatch{set: map[*session]struct{}{}, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// add and remove change the watched set. Any goroutine.
func (w *outputWatch) add(s *session) {
	w.mu.Lock()
	w.set[s] = struct{}{}
	w.mu.Unlock()
	kick(w.kick)
}

func (w *outputWatch) remove(s *session) {
	w.mu.Lock()
	delete(w.set, s)
	w.mu.Unlock()
}

// run wakes due sessions and sleeps until the next is due, or until a
// kick when none is watched.
func (w *outputWatch) run() {
	defer close(w.done)
	t := time.NewTimer(outputPollMax)
	defer t.Stop()
	for {
		var tc <-chan time.Time
		if next := w.wakeDue(time.Now().UnixNano()); next > 0 {
			t.Reset(next)
			tc = t.C
		}
		select {
		case <-w.stop:
			return
		case <-w.kick:
		case <-tc:
		}
	}
}

// wakeDue wakes every session whose poll is due and returns how long
// until the next one is; 0 means none is watched. A woken session's
// pollAt moves a full outputPollMax ahead, so a busy loop is not woken
// again before it has run; OnTraffic sets the real next poll.
func (w *outputWatch) wakeDue(now int64) time.Duration {
	next := int64(0)
	w.mu.Lock()
	for s := range w.set {
		at := s.pollAt.Load()
		if at == 0 {
			continue // the loop is removing it
		}
		if at <= now {
			if s.pollAt.CompareAndSwap(at, now+int64(outputPollMax)) {
				w.due = append(w.due, s)
			}
			at = now + int64(outputPollMax)
		}
		if next == 0 || at-now < next {
			next = at - now
		}
	}
	w.mu.Unlock()
	for i, s := range w.due {
		// Wake fails only when the loop is stopping; the connection
		// closes then.
		_ = s.gc.Wake(nil)
		w.due[i] = nil
	}
	w.due = w.due[:0]
	return time.Duration(next)
}

// close stops run and waits for it. Idempotent.
func (w *outputWatch) close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}
