package ring

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestExplore(t *testing.T) {
	if os.Getenv("RING_EXPLORE") == "" {
		t.Skip("set RING_EXPLORE=1 to print balance and movement for several slacks")
	}
	for _, c := range []struct{ n, p int }{{10, 1 << 16}, {100, 1 << 16}, {1000, 1 << 16}, {1000, 1 << 20}} {
		for _, slack := range []float64{0, 0.02, 0.03} {
			cfg := Config{Partitions: c.p, Slack: slack}
			start := time.Now()
			r := mustNew(t, cfg, equalNodes(c.n, 0))
			build := time.Since(start)
			st := r.Stats()
			start = time.Now()
			r2, err := r.WithNode(Node{ID: "new", Addr: "x:1", Weight: 1})
			if err != nil {
				t.Fatal(err)
			}
			inc := time.Since(start)
			mv, bad := replicaMoves(r, r2, "new")
			ideal := float64(c.p*3) / float64(c.n+1)
			r3, _ := r.WithoutNode("n0005")
			mv3, bad3 := replicaMoves(r, r3, "n0005")
			ideal3 := float64(r.Loads()[5])
			fmt.Printf("n=%d P=%d slack=%v build=%v inc=%v peak=%.4f min=%d max=%d forced=%d add=%.4f bad=%d remove=%.4f bad=%d\n",
				c.n, c.p, slack, build, inc, st.PeakToFair, st.MinLoad, st.MaxLoad, st.Forced, float64(mv)/ideal, bad, float64(mv3)/ideal3, bad3)
		}
	}
}
