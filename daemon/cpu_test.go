package daemon

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used. On a
// machine shared with other work, CPU per operation is steadier than
// operations per second.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
