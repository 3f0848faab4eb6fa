package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/distridata/distridata/protocol"
)

// collector exposes the daemon's existing counters to Prometheus. Nothing
// on the request path knows about Prometheus: the counters are the
// atomics STATS already reads, and Collect turns them into series only
// when /metrics is scraped.
type collector struct{ d *Daemon }

// Describe sends nothing: the collector is unchecked, because its
// per-node series follow the membership, which a reload changes.
func (collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads every counter once. It runs on the scraping HTTP
// goroutine.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{ch}
	c.d.collectFront(e)
	c.d.collectOps(e)
	c.d.collectReplica(e)
	c.d.collectLinks(e)
	c.d.collectRepair(e)
	e.gauge("clock_lead_seconds", "How far the version clock runs ahead of the wall clock (a peer from the future, or the wall clock stepped back).", c.d.clock.Lead().Seconds())
	e.gauge("ring_epoch", "Epoch of the ring requests are routed by.", float64(c.d.coord.Ring().Epoch()))
	e.gauge("ring_nodes", "Storage nodes in the ring.", float64(len(c.d.coord.Ring().Nodes())))
	e.counter("reloads_total", "Config reloads applied (SIGHUP).", c.d.reloads.Load())
	e.counter("reload_failures_total", "Config reloads rejected; the old config kept running.", c.d.reloadFailures.Load())
}

// emitter builds const metrics named distridata_<name>. Labels are
// name/value pairs.
type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) desc(name, help string, labels []string) *prometheus.Desc {
	var cl prometheus.Labels
	if len(labels) > 0 {
		cl = make(prometheus.Labels, len(labels)/2)
		for i := 0; i+1 < len(labels); i += 2 {
			cl[labels[i]] = labels[i+1]
		}
	}
	return prometheus.NewDesc("distridata_"+name, help, nil, cl)
}

func (e emitter) counter(name, help string, v uint64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(e.desc(name, help, labels), prometheus.CounterValue, float64(v))
}

func (e emitter) gauge(name, help string, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(e.desc(name, help, labels), prometheus.GaugeValue, v)
}

func (d *Daemon) collectFront(e emitter) {
	m := &d.fe.m
	e.gauge("connections", "Client connections being served.", float64(m.connsOpen.Load()))
	e.counter("connections_accepted_total", "Client connections accepted.", m.connsAccepted.Load())
	e.counter("connections_rejected_total", "Client connections refused: MaxConns reached or draining.", m.connsRejected.Load())
	e.gauge("in_flight_requests", "Data requests handed to the replication core.", float64(m.inFlight.Load()))
	e.gauge("in_flight_bytes", "Request bytes charged to the memory budget.", float64(m.memInFlight.Load()))
	e.gauge("out_buffered_bytes", "Reply bytes waiting for slow readers, charged to the memory budget.", float64(m.memOutput.Load()))
	e.counter("received_bytes_total", "Client frame bytes decoded.", m.bytesIn.Load())
	e.counter("sent_bytes_total", "Reply bytes written to clients.", m.bytesOut.Load())
	e.counter("busy_sheds_total", "Requests answered BUSY: memory budget full or draining.", m.busy.Load())
	e.counter("backpressure_pauses_total", "Times a connection's window filled and decoding paused.", m.pauses.Load())
	e.counter("output_pauses_total", "Of those, times its output window (unread replies) was the one full.", m.outputPauses.Load())
	const closes, closesHelp = "connection_closes_total", "Connections closed by the daemon, by reason."
	e.counter(closes, closesHelp, m.inboundCap.Load(), "reason", "inbound_cap")
	e.counter(closes, closesHelp, m.outboundCap.Load(), "reason", "outbound_cap")
	e.counter(closes, closesHelp, m.outputStalls.Load(), "reason", "output_stall")
	e.counter(closes, closesHelp, m.frameTimeouts.Load(), "reason", "frame_timeout")
	e.counter(closes, closesHelp, m.idleTimeouts.Load(), "reason", "idle_timeout")
	e.counter(closes, closesHelp, m.badRequests.Load(), "reason", "bad_request")
	e.counter(closes, closesHelp, m.authFailures.Load(), "reason", "auth_failure")
	for op := protocol.OpHello; op <= protocol.OpMGet; op++ {
		e.counter("requests_total", "Client frames decoded, by op.", m.requests[opSlot(op)].Load(), "op", lower(op.String()))
	}
	e.counter("requests_total", "Client frames decoded, by op.", m.requests[opSlots-1].Load(), "op", "other")
	for s := protocol.StatusOK; s <= protocol.StatusSuperseded; s++ {
		e.counter("replies_total", "Replies sent, by status (all ops).", m.replyStatus[s].Load(), "status", lower(s.String()))
	}
}

var dataOps = []protocol.Opcode{protocol.OpPut, protocol.OpGet, protocol.OpDel, protocol.OpMPut, protocol.OpMGet}

// collectOps emits the per-op results and latency histograms.
func (d *Daemon) collectOps(e emitter) {
	for _, op := range dataOps {
		s := d.fe.m.ops.snapshot(op)
		name := lower(op.String())
		for st := protocol.StatusOK; st <= protocol.StatusSuperseded; st++ {
			if n := s.status[st]; n > 0 {
				e.counter("request_results_total", "Data requests completed, by op and status (batch ops count the frame).",
					n, "op", name, "status", lower(st.String()))
			}
		}
		buckets := make(map[float64]uint64, latBuckets-1)
		var cum uint64
		for i := 0; i < latBuckets-1; i++ {
			cum += s.buckets[i]
			buckets[latUpperBound(i)] = cum
		}
		desc := e.desc("request_duration_seconds", "Data request latency from arrival to reply queued, by op.", []string{"op", name})
		e.ch <- prometheus.MustNewConstHistogram(desc, s.count, float64(s.sumNs)/1e9, buckets)
	}
}

func (d *Daemon) collectReplica(e emitter) {
	s := d.coord.Stats()
	e.counter("read_repairs_total", "Blocking read-repair items sent before answering.", s.ReadRepairs)
	e.counter("read_repair_failures_total", "Blocking read-repair items not acknowledged in time.", s.ReadRepairFailures)
	e.counter("async_repairs_total", "Background read repairs started.", s.AsyncRepairs)
	e.counter("async_repairs_dropped_total", "Background read repairs dropped at their cap.", s.AsyncRepairsDrop)
	const res, resHelp = "replica_key_outcomes_total", "Keys the replication core ended other than OK, by outcome."
	e.counter(res, resHelp, s.NotFound, "outcome", "not_found")
	e.counter(res, resHelp, s.Unavailable, "outcome", "unavailable")
	e.counter(res, resHelp, s.Timeouts, "outcome", "timeout")
	e.counter(res, resHelp, s.Partial, "outcome", "partial")
	e.counter(res, resHelp, s.Refused, "outcome", "refused")
	e.counter("replica_failures_total", "Replica answers (per item) that were not OK.", s.ReplicaFailures)
	e.counter("replica_misses_total", "Owners that missed a write (hints to keep).", s.Misses)
	e.gauge("replica_max_epoch_seen", "Highest ring epoch a storage node reported.", float64(s.MaxEpochSeen))
	e.counter("replica_epoch_retries_total", "Requests retried on a newer ring after WRONG_EPOCH refusals.", s.EpochRetries)
	e.counter("replica_behind_total", "Requests refused WRONG_EPOCH with no newer ring: this daemon is behind.", s.Behind)
	e.gauge("clock", "Last hybrid logical clock value assigned.", float64(d.clock.Last()))
}

func (d *Daemon) collectLinks(e emitter) {
	for _, n := range d.pool.Stats() {
		up := 0.0
		if n.Up {
			up = 1
		}
		l := []string{"node", n.ID}
		e.gauge("link_up", "1 if the storage node is believed reachable.", up, l...)
		e.gauge("link_conns", "Handshaken connections to the node.", float64(n.Conns), l...)
		e.gauge("link_queued", "Requests encoded and waiting for a writer.", float64(n.Queued), l...)
		e.gauge("link_in_flight", "Requests admitted and not completed.", float64(n.InFlight), l...)
		e.gauge("link_in_flight_bytes", "Encoded bytes of those requests.", float64(n.InFlightBytes), l...)
		e.gauge("link_consecutive_failures", "Consecutive failures now.", float64(n.Failures), l...)
		e.counter("link_sent_total", "Requests written to the node.", n.Sent, l...)
		e.counter("link_batched_total", "Of those, requests coalesced into RBATCH frames.", n.Batched, l...)
		e.counter("link_writes_total", "Write system calls to the node.", n.Writes, l...)
		e.counter("link_errors_total", "Requests to the node that failed as a whole.", n.Errors, l...)
		e.counter("link_late_replies_total", "Replies dropped: request already completed.", n.Late, l...)
		e.counter("link_reconnects_total", "Connections made after a slot's first.", n.Reconnects, l...)
		e.counter("link_ejections_total", "Times the node was marked down.", n.Ejections, l...)
	}
}

func (d *Daemon) collectRepair(e emitter) {
	r := d.repair
	if r.hints != nil {
		s := r.hints.Stats()
		e.counter("hints_stored_total", "Hints written for owners that missed a write.", s.Stored)
		e.counter("hints_replayed_total", "Hints delivered to their owner.", s.Replayed)
		const dr, drHelp = "hints_dropped_total", "Hints dropped, by reason."
		e.counter(dr, drHelp, s.DroppedAge, "reason", "age")
		e.counter(dr, drHelp, s.DroppedSize, "reason", "size")
		e.counter(dr, drHelp, s.DroppedQueue, "reason", "queue")
		e.counter("hints_failures_total", "Hint store or replay failures.", s.Failures)
		e.gauge("hints_bytes", "Bytes of hints stored.", float64(s.Bytes))
		for id, n := range s.Pending {
			e.gauge("hints_pending", "Hints waiting for their owner.", float64(n), "node", id)
		}
	}
	if r.ae != nil {
		s := r.ae.Stats()
		e.counter("antientropy_partitions_checked_total", "Partitions compared by anti-entropy.", s.Checked)
		e.counter("antientropy_partitions_mismatched_total", "Partitions whose owners differed.", s.Mismatched)
		e.counter("antientropy_keys_repaired_total", "Keys anti-entropy wrote.", s.Keys)
		e.counter("antientropy_failures_total", "Anti-entropy partition failures.", s.Failures)
		e.counter("antientropy_bucket_digests_total", "RBUCKETS answers anti-entropy used to narrow mismatches.", s.Buckets)
		e.counter("antientropy_scanned_keys_total", "Keys and versions anti-entropy scanned from owners.", s.Scanned)
		e.gauge("antientropy_peak_step_keys", "Most keys one anti-entropy repair step held in memory.", float64(s.PeakStepKeys))
	}
	if r.reb != nil {
		s := r.reb.Stats()
		e.counter("rebalance_moves_total", "Ring changes committed by the rebalancer.", s.Moves)
		e.counter("rebalance_partitions_total", "Partitions copied to new owners.", s.Partitions)
		e.counter("rebalance_keys_total", "Keys copied to new owners.", s.Keys)
		e.counter("rebalance_bytes_total", "Bytes copied to new owners.", s.Bytes)
		e.counter("rebalance_resumed_partitions_total", "Partitions a resumed move found already copied.", s.Resumed)
		e.counter("epoch_commits_total", "Storage nodes that committed a new ring epoch (REPOCH acks).", s.Fenced)
		e.counter("epoch_commit_failures_total", "REPOCHs not acknowledged (retried in the background).", s.FenceFailures)
		e.gauge("drops_pending", "Moved partitions waiting to be dropped from nodes that lost them.", float64(s.DropsPending))
		e.counter("drops_total", "Moved partitions dropped from nodes that lost them.", s.Dropped)
		e.counter("drops_keys_total", "Entries those drops removed.", s.DroppedKeys)
		const df, dfHelp = "drops_failed_total", "Partition drops not done (retried), by reason."
		e.counter(df, dfHelp, s.DropRefused, "reason", "wrong_epoch")
		e.counter(df, dfHelp, s.DropFailures, "reason", "error")
	}
}
