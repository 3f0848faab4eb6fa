//go:build race

package repair

// raceEnabled: the race detector slows pebble scans about tenfold, so the
// large-partition tests shrink under it (the logic they check is the same).
const raceEnabled = true
