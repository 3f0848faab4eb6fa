//go:build race

package protocol

// raceEnabled: the race detector allocates on its own, so allocation
// budgets are only meaningful without it.
const raceEnabled = true
