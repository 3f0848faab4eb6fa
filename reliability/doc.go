// Package reliability is DistriData's system-test battery: real node and
// daemon processes (built and driven by internal/systest), faults injected
// mid-traffic, hostile clients, and checkers that prove "no acknowledged
// write is lost" and per-key linearizability. It has no code of its own:
// the tests are the package. See RELIABILITY.md at the module root for
// the contract, the schedules and the figures of the last run.
//
// go test ./reliability/ runs the fast smoke tier (F1, H1–H3, the checker
// self-test); RELIABILITY=full runs the whole battery (make reliability).
package reliability
