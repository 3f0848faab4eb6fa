package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/distridata/distridata/protocol"
)

// Latency is a latency distribution summary.
type Latency struct {
	P50, P90, P99, P999, Max time.Duration
}

// OpResult is what one operation type (set or get) measured.
type OpResult struct {
	Ops       uint64
	OpsPerSec float64
	Latency
}

// Result is what one Run measured. Only replies with an ok outcome count
// as Ops and enter the latencies; requests sent during warmup count
// nowhere but in Sent.
type Result struct {
	Config    Config
	Ops       uint64        // ok replies to measured requests
	Elapsed   time.Duration // end of warmup to the last measured reply
	OpsPerSec float64       // Ops / Elapsed
	Latency                 // of ok replies, all ops together
	PerOp     map[string]OpResult
	Statuses  map[string]uint64 // every measured reply, by status name
	Errors    map[string]uint64 // non-ok statuses and generator-side failures
	Sent      uint64            // requests written, warmup included
	// Open loop only: how far the generator fell behind its own schedule.
	// Latencies already include it; these say whose fault it was.
	MaxSendLag time.Duration // latest send after a request's intended time
	LateSends  uint64        // measured requests sent more than 1 ms late
}

// result merges the recorders once every goroutine has returned.
func (r *runner) result(drivers []*driver, recs []*recorder) Result {
	res := Result{Config: r.cfg, PerOp: map[string]OpResult{}, Statuses: map[string]uint64{}, Errors: map[string]uint64{}}
	r.countFailures(drivers)
	all := newHistogram()
	var last time.Duration
	for op := range opKind(numOps) {
		h := newHistogram()
		var ops uint64
		for _, rec := range recs {
			h.Merge(rec.hist[op])
			ops += rec.ops[op]
		}
		all.Merge(h)
		res.Ops += ops
		if r.weight(op) > 0 {
			res.PerOp[op.String()] = OpResult{Ops: ops, Latency: summarize(h)}
		}
	}
	for _, rec := range recs {
		last = max(last, rec.last)
		mergeCounts(&res, rec)
	}
	for _, d := range drivers {
		res.Sent += d.sent.Load()
		res.MaxSendLag = max(res.MaxSendLag, d.maxLag)
		res.LateSends += d.lateSends
	}
	res.Latency = summarize(all)
	res.Elapsed = max(last-r.measureFrom, 0)
	if res.Elapsed > 0 {
		secs := res.Elapsed.Seconds()
		res.OpsPerSec = float64(res.Ops) / secs
		for k, o := range res.PerOp {
			o.OpsPerSec = float64(o.Ops) / secs
			res.PerOp[k] = o
		}
	}
	return res
}

// countFailures charges each connection's unanswered measured requests to
// its recorder: lost with the connection, or still waiting at the drain.
func (r *runner) countFailures(drivers []*driver) {
	for _, d := range drivers {
		name := errNoReply
		if d.readErr != nil {
			name = errConnLost
		}
		d.rec.fail(name, d.slots.leftover())
		d.rec.fail(errUnsent, d.unsent)
	}
}

func (r *runner) weight(op opKind) int {
	if op == opSet {
		return r.cfg.SetWeight
	}
	return r.cfg.GetWeight
}

func mergeCounts(res *Result, rec *recorder) {
	for st, n := range rec.status {
		if n == 0 {
			continue
		}
		s := protocol.Status(st)
		res.Statuses[s.String()] += n
		if s.Outcome() != protocol.OutcomeOK {
			res.Errors[s.String()] += n
		}
	}
	for name, n := range rec.other {
		if name != errNoReply && name != errConnLost && name != errUnsent {
			res.Statuses[name] += n
		}
		res.Errors[name] += n
	}
}

func summarize(h *hdrhistogram.Histogram) Latency {
	q := func(p float64) time.Duration { return time.Duration(h.ValueAtQuantile(p)) }
	return Latency{P50: q(50), P90: q(90), P99: q(99), P999: q(99.9), Max: time.Duration(h.Max())}
}

// ms converts to milliseconds for reports.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ErrorCount is the total of Errors.
func (r Result) ErrorCount() uint64 {
	var n uint64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// loopName is "closed" or "open".
func (c Config) loopName() string {
	if c.openLoop() {
		return "open"
	}
	return "closed"
}

type jsonLatency struct {
	Ops       uint64  `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50       float64 `json:"p50_ms"`
	P90       float64 `json:"p90_ms"`
	P99       float64 `json:"p99_ms"`
	P999      float64 `json:"p999_ms"`
	Max       float64 `json:"max_ms"`
}

func toJSONLatency(ops uint64, rate float64, l Latency) jsonLatency {
	return jsonLatency{Ops: ops, OpsPerSec: rate, P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), P999: ms(l.P999), Max: ms(l.Max)}
}

// jsonResult is the --json shape: flat, so scripts can use jq -r .ops_per_sec.
type jsonResult struct {
	jsonLatency
	Errors   map[string]uint64      `json:"errors"`
	Statuses map[string]uint64      `json:"statuses"`
	ElapsedS float64                `json:"elapsed_s"`
	Sent     uint64                 `json:"sent"`
	LateSend uint64                 `json:"late_sends"`
	MaxLagMs float64                `json:"max_send_lag_ms"`
	PerOp    map[string]jsonLatency `json:"per_op"`

	Target     Target  `json:"target"`
	Addr       string  `json:"addr"`
	TLS        bool    `json:"tls"`
	Loop       string  `json:"loop"`
	Conns      int     `json:"conns"`
	Pipeline   int     `json:"pipeline"`
	Keys       int64   `json:"keys"`
	Dist       Dist    `json:"dist"`
	ZipfTheta  float64 `json:"zipf_theta,omitempty"`
	ValueSize  int     `json:"value_size"`
	Ratio      string  `json:"ratio"`
	DurationS  float64 `json:"duration_s"`
	Requests   int64   `json:"requests"`
	WarmupS    float64 `json:"warmup_s"`
	Rate       float64 `json:"rate"`
	MaxInFl    int     `json:"max_in_flight,omitempty"`
	W          uint8   `json:"w"`
	R          uint8   `json:"r"`
	DeadlineMs int64   `json:"deadline_ms"`
	Seed       uint64  `json:"seed"`
}

// MarshalJSON gives the flat --json object: results and every parameter
// (never the token).
func (r Result) MarshalJSON() ([]byte, error) {
	c := r.Config
	j := jsonResult{
		jsonLatency: toJSONLatency(r.Ops, r.OpsPerSec, r.Latency),
		Errors:      r.Errors, Statuses: r.Statuses,
		ElapsedS: r.Elapsed.Seconds(), Sent: r.Sent, LateSend: r.LateSends, MaxLagMs: ms(r.MaxSendLag), PerOp: map[string]jsonLatency{},
		Target: c.Target, Addr: c.address(), TLS: c.TLS != nil, Loop: c.loopName(), Conns: c.Conns, Pipeline: c.Pipeline,
		Keys: c.Keys, Dist: c.Dist, ValueSize: c.ValueSize,
		Ratio:     fmt.Sprintf("%d:%d", c.SetWeight, c.GetWeight),
		DurationS: c.Duration.Seconds(), Requests: c.Requests, WarmupS: c.Warmup.Seconds(),
		Rate: c.Rate, W: c.W, R: c.R, DeadlineMs: c.Deadline.Milliseconds(), Seed: c.Seed,
	}
	if j.Errors == nil {
		j.Errors = map[string]uint64{}
	}
	if c.Dist == DistZipf {
		j.ZipfTheta = c.ZipfTheta
	}
	if c.openLoop() {
		j.MaxInFl = c.MaxInFlight
	}
	for k, o := range r.PerOp {
		j.PerOp[k] = toJSONLatency(o.Ops, o.OpsPerSec, o.Latency)
	}
	return json.Marshal(j)
}

// WriteText writes a human summary.
func (r Result) WriteText(w io.Writer) error {
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", c.Target, c.address())
	if c.TLS != nil {
		b.WriteString(" over TLS")
	}
	fmt.Fprintf(&b, ": %d conns, pipeline %d, %s loop", c.Conns, c.Pipeline, c.loopName())
	if c.openLoop() {
		fmt.Fprintf(&b, " at %.0f req/s", c.Rate)
	}
	fmt.Fprintf(&b, ", %d B values, %d keys %s, SET:GET %d:%d\n", c.ValueSize, c.Keys, c.Dist, c.SetWeight, c.GetWeight)
	fmt.Fprintf(&b, "%d ops in %.2f s: %.0f ops/s\n", r.Ops, r.Elapsed.Seconds(), r.OpsPerSec)
	fmt.Fprintf(&b, "%-8s %10s %10s %10s %10s %10s %10s\n", "latency", "ops/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms")
	writeRow(&b, "all", r.OpsPerSec, r.Latency)
	for _, k := range slices.Sorted(maps.Keys(r.PerOp)) {
		writeRow(&b, k, r.PerOp[k].OpsPerSec, r.PerOp[k].Latency)
	}
	if c.openLoop() {
		fmt.Fprintf(&b, "open loop: %d requests sent over %v late, latest %.3f ms late\n", r.LateSends, lateSend, ms(r.MaxSendLag))
	}
	if len(r.Errors) == 0 {
		b.WriteString("errors: none\n")
	} else {
		b.WriteString("errors:")
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			fmt.Fprintf(&b, " %s=%d", k, r.Errors[k])
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeRow(b *strings.Builder, name string, rate float64, l Latency) {
	fmt.Fprintf(b, "%-8s %10.0f %10.3f %10.3f %10.3f %10.3f %10.3f\n", name, rate, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max))
}
