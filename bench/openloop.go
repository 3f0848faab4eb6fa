package bench

import "time"

// openLoop is the open-loop writer. Request k of this connection is due at
// phase + k*interval; its latency is measured from that intended time, not
// from when it was actually written. A late writer (timer slack, a full
// window) therefore sends a burst of overdue requests whose waiting shows
// in the latency: the schedule never waits for the server.
func (d *driver) openLoop() error {
	defer d.writerExit()
	next := d.phase // intended time of the next request
	spent, err := d.schedule(&next)
	if !spent {
		d.unsent = d.countUnsent(next)
	}
	return err
}

// schedule sends requests as they fall due until the end of the run.
// spent reports that it stopped because the request budget ran out.
func (d *driver) schedule(next *time.Duration) (spent bool, err error) {
	interval := d.run.interval
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	buf := make([]byte, 0, readBufSize)
	for !d.stopped() {
		// Every request scheduled before stopAt is sent, however late: a
		// writer that fell behind (a full window, a starved CPU) must show
		// it as latency or as UNSENT, never by quietly skipping requests.
		if *next >= d.run.stopAt {
			return false, nil
		}
		now := d.run.since()
		if *next > now {
			timer.Reset(*next - now)
			if !d.sleep(timer) {
				return false, nil
			}
			continue
		}
		due := int((now-*next)/interval) + 1
		d.taken = d.slots.take(d.taken[:0], due)
		if len(d.taken) == 0 {
			if !d.waitWake() {
				return false, nil
			}
			continue
		}
		var n int
		var more bool
		buf, n, more = d.appendDue(buf[:0], next, now)
		d.slots.give(d.taken[n:])
		if n > 0 {
			if err := d.flush(buf, n); err != nil {
				return false, err
			}
		}
		if !more {
			return true, nil
		}
	}
	return false, nil
}

// appendDue appends a due request into each taken slot, advancing *next.
// more is false once the request budget is spent.
// now is the send time, to measure how late the generator itself is.
func (d *driver) appendDue(buf []byte, next *time.Duration, now time.Duration) (_ []byte, n int, more bool) {
	for _, slot := range d.taken {
		at := *next
		if at >= d.run.stopAt { // a late batch must not spill past the schedule's end
			break
		}
		measured := at >= d.run.measureFrom
		if measured && d.run.reserve(1) == 0 {
			return buf, n, false
		}
		if measured {
			d.noteLag(now - at)
		}
		buf = d.appendNext(buf, slot, at, measured)
		*next += d.run.interval
		n++
	}
	return buf, n, true
}

// sleep waits for the timer; false means stop.
func (d *driver) sleep(t *time.Timer) bool {
	select {
	case <-t.C:
		return true
	case <-d.run.stop:
		return false
	case <-d.readerDone:
		return false
	}
}

// countUnsent is how many measured requests were due before the end of the
// run (or before ctx ended it) but never sent: the window stayed full, or
// the generator itself could not keep the schedule.
func (d *driver) countUnsent(next time.Duration) uint64 {
	iv := d.run.interval
	if next < d.run.measureFrom { // skip unmeasured slots, staying on the schedule
		next += (d.run.measureFrom - next + iv - 1) / iv * iv
	}
	end := min(d.run.since(), d.run.stopAt)
	if end <= next {
		return 0
	}
	return uint64((end - next + iv - 1) / iv)
}

// lateSend is the send lag past which a request counts as sent late: well
// above timer slack, so a count that grows means the generator (or a full
// window) could not keep the schedule, and the latencies include that.
const lateSend = time.Millisecond

// noteLag records how long after its intended time a request was sent.
func (d *driver) noteLag(lag time.Duration) {
	d.maxLag = max(d.maxLag, lag)
	if lag > lateSend {
		d.lateSends++
	}
}
