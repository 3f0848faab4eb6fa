//go:build faultclock

package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The faultclock build (go build -tags faultclock; internal/systest builds
// the binary this way) lets a test skew the wall clock under the daemon's
// version clock, for the F10 clock-skew schedule. Production builds
// compile nofaultclock.go instead and carry no such knob.

// faultClockEnv names the file holding the skew: a Go duration ("-1h",
// "10m", "0s") added to time.Now. Unset means no skew, as in production.
const faultClockEnv = "DISTRIDATA_FAULT_CLOCK_FILE"

// faultClockPoll is how often the file is re-read: a test sees its skew
// applied within a few milliseconds of load, and a write does not pay a
// file read each.
const faultClockPoll = 10 * time.Millisecond

// skewedClock is time.Now plus the skew last read from path. Its now runs
// on whatever goroutine stamps a version; the file is read by whichever
// caller finds it stale and wins the TryLock, so no goroutine is added.
type skewedClock struct {
	path string
	log  io.Writer
	skew atomic.Int64 // nanoseconds

	mu   sync.Mutex // guards read and last
	read time.Time  // when the file was last read (real time)
	last string     // its content then, to log only changes
}

func faultClock(stderr io.Writer) func() time.Time {
	path := os.Getenv(faultClockEnv)
	if path == "" {
		return nil
	}
	c := &skewedClock{path: path, log: stderr}
	return c.now
}

func (c *skewedClock) now() time.Time {
	real := time.Now()
	c.refresh(real)
	return real.Add(time.Duration(c.skew.Load()))
}

// refresh re-reads the skew file if faultClockPoll has passed. A missing
// file means no skew; a file that does not parse keeps the old skew and
// says so in the log.
func (c *skewedClock) refresh(real time.Time) {
	if !c.mu.TryLock() {
		return
	}
	defer c.mu.Unlock()
	if real.Sub(c.read) < faultClockPoll {
		return
	}
	c.read = real
	b, err := os.ReadFile(c.path)
	text := strings.TrimSpace(string(b))
	if os.IsNotExist(err) {
		text = "0s"
	} else if err != nil {
		return
	}
	if text == c.last {
		return
	}
	c.last = text
	d, err := time.ParseDuration(text)
	if err != nil {
		fmt.Fprintf(c.log, "faultclock: cannot parse skew %q: %v\n", text, err)
		return
	}
	c.skew.Store(int64(d))
	fmt.Fprintf(c.log, "faultclock: wall clock skew now %v\n", d)
}
