package ring

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestCPUCost(t *testing.T) {
	if os.Getenv("RING_CPU") == "" {
		t.Skip()
	}
	m, _ := newMembers(equalNodes(1000, 0))
	t0 := cpuTime()
	prefs := &prefTable{k: 8, rows: make([]uint16, 8<<16)}
	prefs.fill(m, 0, 1<<16)
	fmt.Printf("candidates: %.2f ns CPU per node-row\n", float64(cpuTime()-t0)/float64(1000<<16))
}
