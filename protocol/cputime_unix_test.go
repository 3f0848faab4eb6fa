//go:build unix

package protocol

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used (user + system). On a
// shared machine wall-clock ns/op counts time spent waiting for a core;
// CPU time per op does not, so benchmarks report both.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
