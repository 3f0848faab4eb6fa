package reliability_test

import (
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/distridata/distridata/internal/systest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { systest.RemoveBinary() }),
		// toxiproxy v2.12.0 can leave a toxic's pipe goroutine blocked on
		// a channel send after RemoveToxic on a link that closed meanwhile;
		// it belongs to the library, not to DistriData.
		goleak.IgnoreTopFunction("github.com/Shopify/toxiproxy/v2/toxics.(*NoopToxic).Pipe"),
		goleak.IgnoreTopFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).read"),
		// F8's in-process daemon starts gnet, whose worker pool (ants)
		// lives for the process.
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"))
}

// full reports whether the whole battery runs (RELIABILITY=full), not
// just the smoke tier that `go test ./reliability/` runs by default.
func full() bool { return os.Getenv("RELIABILITY") == "full" }

// needFull skips a test outside the full battery.
func needFull(t *testing.T) {
	t.Helper()
	if !full() {
		t.Skip("full battery only: RELIABILITY=full (make reliability)")
	}
}

// seedFor returns the schedule's seed: RELIABILITY_SEED if set (to replay
// a failure), else the clock mixed with the test name, so schedules that
// start together still differ. A failing test prints it.
func seedFor(t *testing.T) uint64 {
	t.Helper()
	var seed uint64
	if s := os.Getenv("RELIABILITY_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RELIABILITY_SEED=%q: %v", s, err)
		}
		seed = v
	} else {
		h := fnv.New64a()
		h.Write([]byte(t.Name()))
		seed = uint64(time.Now().UnixNano()) ^ h.Sum64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s failed with seed %d: rerun with RELIABILITY_SEED=%d -run '^%s$'", t.Name(), seed, seed, t.Name())
		}
	})
	return seed
}

// summary logs one machine-greppable line of a schedule's figures.
func summary(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("SUMMARY %s %s", t.Name(), fmt.Sprintf(format, args...))
}
