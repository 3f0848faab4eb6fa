//go:build race

package daemon

// raceEnabled: the race detector instruments allocations, so allocation
// budgets only hold without it.
const raceEnabled = true
