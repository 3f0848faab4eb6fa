package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig is a small, fast run against addr: 4 conns, a short duration
// bound, and short timeouts so failing tests fail fast.
func testConfig(addr string, target Target) Config {
	c := DefaultConfig()
	c.Addr, c.Target = addr, target
	c.Conns, c.Keys = 4, 1000
	c.Duration = 10 * time.Second
	// Generous: the fake server shares two loaded cores with the rest of
	// the suite, and a dial or a held reply past these counts as an error
	// (a 300 ms drain lost 2 replies of TestRunKeepsSlotsOfLaggingReplies
	// at load 13). Only tests of replies that never come wait them out.
	c.DialTimeout, c.DrainTimeout = 10*time.Second, 2*time.Second
	return c
}

func run(t *testing.T, cfg Config) Result {
	t.Helper()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func TestRunCountsRequests(t *testing.T) {
	for _, pipeline := range []int{1, 16} {
		srv := &fakeServer{t: t}
		cfg := testConfig(srv.start(), TargetDistriData)
		cfg.Pipeline, cfg.Requests = pipeline, 2000
		res := run(t, cfg)
		if res.Ops != 2000 || res.Sent != 2000 || srv.puts.Load() != 2000 {
			t.Errorf("pipeline %d: ops %d sent %d server puts %d, want 2000 each", pipeline, res.Ops, res.Sent, srv.puts.Load())
		}
		if len(res.Errors) != 0 || res.OpsPerSec <= 0 || res.P50 <= 0 || res.Max < res.P99 {
			t.Errorf("pipeline %d: errors %v, ops/s %f, p50 %v, p99 %v, max %v", pipeline, res.Errors, res.OpsPerSec, res.P50, res.P99, res.Max)
		}
	}
}

func TestRunMatchesOutOfOrderRepliesByID(t *testing.T) {
	srv := &fakeServer{t: t, reverse: true}
	cfg := testConfig(srv.start(), TargetDistriData)
	cfg.Pipeline, cfg.Requests, cfg.SetWeight, cfg.GetWeight = 32, 4000, 1, 1
	res := run(t, cfg)
	set, get := res.PerOp["set"].Ops, res.PerOp["get"].Ops
	if set+get != 4000 || set != uint64(srv.puts.Load()) || get != uint64(srv.gets.Load()) {
		t.Errorf("set %d get %d; server saw %d puts %d gets", set, get, srv.puts.Load(), srv.gets.Load())
	}
	if set < 1600 || get < 1600 {
		t.Errorf("1:1 mix gave %d sets and %d gets", set, get)
	}
}

// One reply held back while the window turns over many times: a slot
// must stay taken until its own reply comes, whatever the IDs after it.
func TestRunKeepsSlotsOfLaggingReplies(t *testing.T) {
	srv := &fakeServer{t: t, holdFirst: 100}
	cfg := testConfig(srv.start(), TargetDistriData)
	cfg.Pipeline, cfg.Requests, cfg.SetWeight, cfg.GetWeight = 8, 2000, 1, 1
	res := run(t, cfg)
	if res.Ops != 2000 || len(res.Errors) != 0 || res.Max < res.P50 {
		t.Errorf("ops %d errors %v", res.Ops, res.Errors)
	}
}

func TestRunCountsErrorsByStatus(t *testing.T) {
	srv := &fakeServer{t: t, status: func(_ protocol.Opcode, n int64) protocol.Status {
		switch n % 4 {
		case 1:
			return protocol.StatusTimeout
		case 2:
			return protocol.StatusNotFound
		}
		return protocol.StatusOK
	}}
	cfg := testConfig(srv.start(), TargetDistriData)
	cfg.Pipeline, cfg.Requests = 8, 1000
	res := run(t, cfg)
	if res.Errors["TIMEOUT"] != 250 || res.Statuses["NOT_FOUND"] != 250 || res.Statuses["OK"] != 500 {
		t.Errorf("errors %v statuses %v", res.Errors, res.Statuses)
	}
	if res.Ops != 750 || len(res.Errors) != 1 {
		t.Errorf("ops %d (NOT_FOUND is ok, TIMEOUT is not), errors %v", res.Ops, res.Errors)
	}
}

func TestRunNodeTarget(t *testing.T) {
	srv := &fakeServer{t: t, node: true, epoch: 42}
	cfg := testConfig(srv.start(), TargetNode)
	cfg.Pipeline, cfg.Requests, cfg.SetWeight, cfg.GetWeight = 4, 1000, 3, 1
	res := run(t, cfg)
	if res.Ops != 1000 || srv.puts.Load()+srv.gets.Load() != 1000 || len(res.Errors) != 0 {
		t.Errorf("ops %d, server %d puts %d gets, errors %v", res.Ops, srv.puts.Load(), srv.gets.Load(), res.Errors)
	}
}

func TestRunRedisTarget(t *testing.T) {
	srv := &fakeServer{t: t, resp: true}
	cfg := testConfig(srv.start(), TargetRedis)
	cfg.Pipeline, cfg.Requests, cfg.Keys, cfg.SetWeight, cfg.GetWeight = 16, 3000, 10, 1, 1
	res := run(t, cfg)
	if res.Ops != 3000 || srv.requests.Load() != 3000 || len(res.Errors) != 0 {
		t.Errorf("ops %d, server saw %d, errors %v", res.Ops, srv.requests.Load(), res.Errors)
	}
	// With 10 keys, nearly every GET after the first few finds a value.
	if res.Statuses["OK"] < 2900 {
		t.Errorf("statuses %v", res.Statuses)
	}
}

func TestRunWarmupIsNotMeasured(t *testing.T) {
	srv := &fakeServer{t: t}
	cfg := testConfig(srv.start(), TargetDistriData)
	cfg.Warmup, cfg.Requests = 200*time.Millisecond, 500
	res := run(t, cfg)
	if res.Ops != 500 || res.Sent <= 500 {
		t.Errorf("ops %d sent %d: want 500 measured after warmup and more sent", res.Ops, res.Sent)
	}
}

func TestRunStopsAtDuration(t *testing.T) {
	srv := &fakeServer{t: t}
	cfg := testConfig(srv.start(), TargetDistriData)
	cfg.Duration = 300 * time.Millisecond
	begin := time.Now()
	res := run(t, cfg)
	if took := time.Since(begin); took > 2*time.Second || res.Elapsed < 250*time.Millisecond || res.Elapsed > time.Second {
		t.Errorf("took %v, elapsed %v for a 300ms run", took, res.Elapsed)
	}
}

func TestRunStopsOnContext(t *testing.T) {
	srv := &fakeServer{t: t}
	cfg := testConfig(srv.start(), TargetDistriData)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// A hang, not a speed check: the drain may wait DrainTimeout at most.
	if took := time.Since(begin); took > cfg.DrainTimeout+3*time.Second {
		t.Errorf("Run took %v after its context ended at 200ms", took)
	}
}

func TestRunCountsRepliesThatNeverCome(t *testing.T) {
	srv := &fakeServer{t: t, dropGets: true}
	cfg := testConfig(srv.start(), TargetDistriData)
	cfg.Duration, cfg.SetWeight, cfg.GetWeight = 300*time.Millisecond, 1, 1
	res := run(t, cfg)
	// Every connection ends with its one slot held by an unanswered GET.
	if res.Errors[errNoReply] != uint64(cfg.Conns) || res.PerOp["get"].Ops != 0 {
		t.Errorf("errors %v, gets %d", res.Errors, res.PerOp["get"].Ops)
	}
}

func TestRunReportsLostConnections(t *testing.T) {
	srv := &fakeServer{t: t, closeAfter: 100}
	cfg := testConfig(srv.start(), TargetDistriData)
	cfg.Pipeline = 4
	res, err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrConnLost) {
		t.Fatalf("err = %v, want ErrConnLost", err)
	}
	if res.Errors[errConnLost] == 0 {
		t.Errorf("errors %v: want CONN_LOST counted", res.Errors)
	}
}

func TestRunFailsOnRefusedHello(t *testing.T) {
	srv := &fakeServer{t: t, helloStatus: protocol.StatusUnauthorized}
	cfg := testConfig(srv.start(), TargetDistriData)
	_, err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Fatalf("err = %v, want ErrHandshake naming UNAUTHORIZED", err)
	}
}

func TestRunJSONShape(t *testing.T) {
	srv := &fakeServer{t: t}
	cfg := testConfig(srv.start(), TargetDistriData)
	cfg.Requests, cfg.SetWeight, cfg.GetWeight, cfg.W, cfg.R = 200, 1, 1, 2, 2
	b, err := json.Marshal(run(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ops_per_sec", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "errors", "ops",
		"target", "addr", "tls", "conns", "pipeline", "keys", "dist", "value_size", "ratio", "duration_s", "requests",
		"rate", "warmup_s", "w", "r", "seed", "loop", "per_op"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if m["ops"] != 200.0 || m["ratio"] != "1:1" || m["w"] != 2.0 || m["tls"] != false {
		t.Errorf("JSON values wrong: %s", b)
	}
	if _, ok := m["errors"].(map[string]any); !ok {
		t.Errorf("errors is not an object: %s", b)
	}
}

func TestRunProgressLine(t *testing.T) {
	srv := &fakeServer{t: t}
	cfg := testConfig(srv.start(), TargetDistriData)
	var out bytes.Buffer // read only after Run has joined the progress goroutine
	cfg.Duration, cfg.Progress, cfg.ProgressInterval = 350*time.Millisecond, &out, 100*time.Millisecond
	run(t, cfg)
	if s := out.String(); !strings.Contains(s, "ops/s") || !strings.Contains(s, "p99") {
		t.Errorf("progress output %q", s)
	}
}
