//go:build !faultclock

package main

import (
	"io"
	"time"
)

// faultClock is the daemon's wall clock: the default (time.Now) in every
// build but the faultclock test build (faultclock.go), so a production
// binary has no way to skew the clock that stamps versions.
func faultClock(io.Writer) func() time.Time { return nil }
