//go:build race

package ring

// raceEnabled reports a -race build: the detector slows the big statistical
// tests about tenfold and makes allocation counts meaningless.
const raceEnabled = true
