//go:build race

package replica_test

// raceEnabled: the race detector makes sync.Pool drop items on purpose and
// instruments allocations, so allocation budgets only hold without it.
const raceEnabled = true
