package main

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// statsCounters are STATS lines parsed: "name value".
type statsCounters map[string]int64

func parseStats(text string) statsCounters {
	m := statsCounters{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64); err == nil {
			m[name] = v
		}
	}
	return m
}

// list formats "label value" pairs of the named counters, skipping zeros
// unless all are zero.
func (m statsCounters) list(prefix string, names ...string) string {
	var parts []string
	for _, n := range names {
		if v := m[prefix+n]; v != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", strings.ReplaceAll(n, "_", "-"), v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// summarizeStats writes a human summary of a STATS reply: what an
// operator looks at first, with the link table per storage node.
func summarizeStats(w io.Writer, text string) {
	m := parseStats(text)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "connections\t%d open, %d accepted, %d refused\n", m["conns"], m["conns_accepted"], m["conns_rejected"])
	fmt.Fprintf(tw, "requests\t%s\n", m.list("requests_", "put", "get", "del", "mput", "mget", "hello", "ping", "stats", "other"))
	var st []string
	for name := range m {
		if s, ok := strings.CutPrefix(name, "replies_"); ok {
			st = append(st, s)
		}
	}
	sort.Strings(st)
	fmt.Fprintf(tw, "replies\t%s\n", m.list("replies_", st...))
	fmt.Fprintf(tw, "in flight\t%d requests, %d bytes\n", m["in_flight"], m["in_flight_bytes"])
	fmt.Fprintf(tw, "traffic\t%d bytes in, %d bytes out, %d reply writes\n", m["bytes_in"], m["bytes_out"], m["reply_writes"])
	fmt.Fprintf(tw, "shedding\t%s\n", m.list("", "busy_sheds", "backpressure_pauses", "cap_closes_inbound", "cap_closes_outbound",
		"frame_timeout_closes", "idle_timeout_closes", "bad_request_closes", "auth_failures"))
	fmt.Fprintf(tw, "replication\t%s\n", m.list("replica_", "unavailable", "timeouts", "partial", "refused", "failures",
		"read_repairs", "read_repair_failures", "async_repairs", "async_repairs_dropped"))
	fmt.Fprintf(tw, "hints\t%s\n", m.list("hints_", "stored", "replayed", "dropped_age", "dropped_size", "dropped_queue", "failures", "bytes"))
	_ = tw.Flush()
	summarizeLinks(w, m)
}

func summarizeLinks(w io.Writer, m statsCounters) {
	var ids []string
	for name := range m {
		if rest, ok := strings.CutPrefix(name, "link_"); ok && strings.HasSuffix(rest, "_up") {
			ids = append(ids, strings.TrimSuffix(rest, "_up"))
		}
	}
	if len(ids) == 0 {
		return
	}
	sort.Strings(ids)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "NODE\tLINK\tCONNS\tIN-FLIGHT\tQUEUED\tSENT\tERRORS\tRECONNECTS\tEJECTIONS\tHINTS\t")
	for _, id := range ids {
		p := "link_" + id + "_"
		up := "DOWN"
		if m[p+"up"] == 1 {
			up = "up"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", id, up, m[p+"conns"], m[p+"in_flight"], m[p+"queued"],
			m[p+"sent"], m[p+"errors"], m[p+"reconnects"], m[p+"ejections"], m["hints_pending_"+id])
	}
	_ = tw.Flush()
}
