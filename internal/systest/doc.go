// Package systest runs DistriData as real processes for system tests: it
// builds the distridata binary once per test process, starts storage
// nodes and a daemon on 127.0.0.1 ports with an in-process toxiproxy
// between the daemon and every node (and one in front of the daemon), and
// injects faults: SIGKILL, SIGSTOP/SIGCONT, restart on the same directory
// and port, and toxics (latency, black hole, reset, slicer, bandwidth).
//
// It also records workload histories (set and register workloads, each
// operation with its call and return times and outcome class) and checks
// them: the set checker proves that every acknowledged write is readable,
// the register checker runs porcupine over per-key histories. Both have
// self-tests with injected anomalies, so a pass is never vacuous.
//
// Everything a Cluster starts is stopped by t.Cleanup, by PID. Child
// processes also get SIGKILL if the test process dies (Pdeathsig), so a
// crashed test leaves nothing running.
package systest
