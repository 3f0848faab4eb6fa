#!/usr/bin/env bash
# bench/anchors.sh — measure DistriData side by side with its anchors on this
# machine, in one run, by one method: redis-server direct, twemproxy in front of
# three redis-servers, a redis primary with two replicas, one DistriData storage
# node direct, the daemon with N=1, and the daemon with N=3 W=2 R=2 (memory
# engine, and pebble with --sync always).
#
# Every case is run RUNS times; the report gives the median with min..max, as a
# Markdown table on stdout (progress goes to stderr). Servers are pinned to CPU 0
# and the load generator to CPU 1 when there are two CPUs. Only processes this
# script started are stopped, by PID, on exit.
#
# Knobs (environment):
#   RUN_SECS=3         measured seconds per run (the defaults take ~12 minutes;
#                      RUN_SECS=4 took 891 s on a loaded 2-CPU VM)
#   WARMUP=0.5s        unmeasured load before each run
#   RUNS=3             runs per cell
#   SIZES="100 1024"   value sizes in bytes
#   CONNS=50 KEYS=100000
#   CASES="redis twemproxy replicas node n1 n3mem n3pebble"   which systems
#   BASE_PORT=27000    ports BASE_PORT..BASE_PORT+24 on 127.0.0.1 must be free
#   DATA_DIR=DIR       where pebble nodes keep data (default: the work directory)
#   KEEP=1             keep the work directory (raw JSON, logs)
#   NO_INSTALL=1       do not apt-get missing tools
set -euo pipefail

RUN_SECS=${RUN_SECS:-3}
WARMUP=${WARMUP:-0.5s}
RUNS=${RUNS:-3}
SIZES=${SIZES:-"100 1024"}
CONNS=${CONNS:-50}
KEYS=${KEYS:-100000}
CASES=${CASES:-"redis twemproxy replicas node n1 n3mem n3pebble"}
BASE_PORT=${BASE_PORT:-27000}
CMDLINE="RUN_SECS=$RUN_SECS WARMUP=$WARMUP RUNS=$RUNS SIZES=\"$SIZES\" CONNS=$CONNS CASES=\"$CASES\" $0 $*"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/bin/distridata
WORK=$(mktemp -d /tmp/dd-anchors.XXXXXX)
DATA=${DATA_DIR:-$WORK} # pebble data: must be a real disk for --sync always to mean anything
RESULTS=$WORK/results.tsv # system cell run ops/s p50_ms p99_ms errors target_rate late_sends
: >"$RESULTS"
PIDS=()      # every process this script started
CASE_PIDS=() # those of the running case

calc() { awk "BEGIN { printf \"%.6f\", $* }"; }
log() { printf '[anchors %4ds] %s\n' "$SECONDS" "$*" >&2; }

# ---------------------------------------------------------------- processes

stop_pids() {
	local pid
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "$@"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}

cleanup() {
	local rc=$?
	[ ${#PIDS[@]} -gt 0 ] && stop_pids "${PIDS[@]}"
	if [ "${KEEP:-}" = 1 ] || [ $rc -ne 0 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Pinning: servers on CPU 0, the generator on CPU 1, when there are two CPUs.
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	SERVER_CPU=(taskset -c 0)
	GEN_CPU=(taskset -c 1)
else
	SERVER_CPU=()
	GEN_CPU=()
fi

# start NAME CMD...: run a server in the background, pinned, logging to WORK.
start() {
	local name=$1
	shift
	"${SERVER_CPU[@]}" "$@" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
	CASE_PIDS+=($!)
}

end_case() {
	[ ${#CASE_PIDS[@]} -gt 0 ] && stop_pids "${CASE_PIDS[@]}"
	CASE_PIDS=()
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
	local port=$1 i
	for i in $(seq 100); do
		port_free "$port" || return 0
		sleep 0.1
	done
	log "nothing listens on port $port after 10 s; logs in $WORK"
	return 1
}

# ---------------------------------------------------------------- setup

install_tools() {
	local missing=()
	command -v redis-server >/dev/null || missing+=(redis-server)
	command -v redis-benchmark >/dev/null || missing+=(redis-tools)
	command -v nutcracker >/dev/null || [ -x /usr/sbin/nutcracker ] || missing+=(nutcracker)
	command -v jq >/dev/null || missing+=(jq)
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "${NO_INSTALL:-}" = 1 ]; then
		log "missing: ${missing[*]} (NO_INSTALL=1)"
		exit 1
	fi
	log "installing ${missing[*]}"
	local sudo=()
	[ "$(id -u)" -ne 0 ] && sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

check_ports() {
	local p
	for p in $(seq "$BASE_PORT" $((BASE_PORT + 24))); do
		if ! port_free "$p"; then
			log "port $p is in use; set BASE_PORT to a free range"
			exit 1
		fi
	done
}

install_tools
NUTCRACKER=$(command -v nutcracker || echo /usr/sbin/nutcracker)
check_ports
log "building $BIN"
(cd "$ROOT" && make --no-print-directory build >/dev/null)

# ---------------------------------------------------------------- measuring

# gen SYSTEM CELL TARGET ADDR ARGS...: RUNS runs of the generator; each run's
# ops/s, p50 and p99 go to RESULTS. A failed run is logged and skipped.
gen() {
	local system=$1 cell=$2 target=$3 addr=$4 run out
	shift 4
	for run in $(seq "$RUNS"); do
		out=$WORK/$system.$cell.$run.json
		if "${GEN_CPU[@]}" "$BIN" bench --target "$target" --addr "$addr" --conns "$CONNS" --keys "$KEYS" \
			--duration "${RUN_SECS}s" --warmup "$WARMUP" --json "$@" >"$out" 2>"$out.err"; then
			jq -r --arg s "$system" --arg c "$cell" --arg r "$run" \
				'[$s, $c, $r, .ops_per_sec, .p50_ms, .p99_ms, (.errors | add // 0), .rate, .late_sends] | @tsv' "$out" >>"$RESULTS"
		else
			log "$system $cell run $run failed: $(tail -c 300 "$out.err")"
		fi
	done
}

# cells SYSTEM TARGET ADDR: the closed-loop grid, then open loop at half the
# SET P1 peak, then low load (1 connection, pipeline 1). The open loop sends
# each request when it falls due, mostly one per write like P1, so half the P1
# peak is what both the server and the generator can be asked to sustain;
# half the P16 peak would mostly measure an overrun generator.
cells() {
	local system=$1 target=$2 addr=$3 size peak
	for size in $SIZES; do
		log "$system: ${size} B"
		gen "$system" "set-p1-$size" "$target" "$addr" --pipeline 1 --value-size "$size" --ratio 1:0
		gen "$system" "set-p16-$size" "$target" "$addr" --pipeline 16 --value-size "$size" --ratio 1:0
		gen "$system" "get-p16-$size" "$target" "$addr" --pipeline 16 --value-size "$size" --ratio 0:1
	done
	peak=$(median "$system" "set-p1-$(first_size)" 4)
	if [ -n "$peak" ]; then
		log "$system: open loop at $(printf '%.0f' "$(calc "$peak / 2")") req/s"
		gen "$system" open "$target" "$addr" --rate "$(calc "$peak / 2")" --value-size "$(first_size)" --ratio 1:0
	fi
	log "$system: low load"
	CONNS=1 gen "$system" low "$target" "$addr" --pipeline 1 --value-size "$(first_size)" --ratio 1:0
}

first_size() { set -- $SIZES; echo "$1"; }

# redis_benchmark SYSTEM PORT: redis-benchmark's own numbers for the grid.
# It has no duration flag, so each run is sized to take RUN_SECS/2 at the
# rate our generator measured, and cut at 2*RUN_SECS (then it reports
# nothing, and the cut is logged): a slow run cannot blow the time budget.
redis_benchmark() {
	local system=$1 port=$2 size p t cell rate n run line
	for size in $SIZES; do
		for cell in "set-p1" "set-p16" "get-p16"; do
			t=${cell%%-*}
			p=${cell##*-p}
			rate=$(median "redis" "$cell-$size" 4)
			n=$(printf '%.0f' "$(calc "${rate:-50000} * $RUN_SECS / 2")")
			for run in $(seq "$RUNS"); do
				line=$(timeout $((2 * RUN_SECS)) "${GEN_CPU[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -c "$CONNS" \
					-n "$n" -r "$KEYS" -d "$size" -P "$p" -t "$t" --csv 2>/dev/null | tail -1 | tr -d '"') || true
				case $line in SET,* | GET,*) ;; *) log "redis-benchmark $cell-$size run $run: no result in $((2 * RUN_SECS)) s" ;; esac
				# test,rps,avg,min,p50,p95,p99,max
				echo "$line" | awk -F, -v s="$system" -v c="$cell-$size" -v r="$run" \
					'NF >= 7 { printf "%s\t%s\t%s\t%s\t%s\t%s\t0\t0\t0\n", s, c, r, $2, $5, $7 }' >>"$RESULTS"
			done
		done
	done
}

# median SYSTEM CELL COLUMN: the median of a column over the runs.
median() {
	awk -F'\t' -v s="$1" -v c="$2" -v k="$3" '$1 == s && $2 == c { print $k }' "$RESULTS" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

range() {
	awk -F'\t' -v s="$1" -v c="$2" -v k="$3" '$1 == s && $2 == c { print $k }' "$RESULTS" |
		sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%s..%s", lo, hi }'
}

# ---------------------------------------------------------------- cases

P=$BASE_PORT

# start_redis NAME PORT [ARGS...]: a redis-server without persistence.
start_redis() {
	start "$1" redis-server --bind 127.0.0.1 --port "$2" --save "" --appendonly no --protected-mode no "${@:3}"
}

case_redis() {
	start_redis redis $((P + 0))
	wait_port $((P + 0))
	cells redis redis 127.0.0.1:$((P + 0))
	log "redis: redis-benchmark"
	redis_benchmark redis-benchmark $((P + 0))
	end_case
}

case_twemproxy() {
	local i conf=$WORK/nutcracker.yml
	printf 'anchors:\n  listen: 127.0.0.1:%d\n  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  auto_eject_hosts: false\n  servers:\n' $((P + 4)) >"$conf"
	for i in 1 2 3; do
		start_redis "twem-redis$i" $((P + i))
		printf '    - 127.0.0.1:%d:1\n' $((P + i)) >>"$conf"
	done
	start nutcracker "$NUTCRACKER" -c "$conf" -s $((P + 5)) -a 127.0.0.1 -o "$WORK/nutcracker.out"
	for i in 1 2 3 4; do wait_port $((P + i)); done
	cells twemproxy redis 127.0.0.1:$((P + 4))
	end_case
}

case_replicas() {
	start_redis primary $((P + 6))
	wait_port $((P + 6))
	start_redis replica1 $((P + 7)) --replicaof 127.0.0.1 $((P + 6))
	start_redis replica2 $((P + 8)) --replicaof 127.0.0.1 $((P + 6))
	wait_port $((P + 7))
	wait_port $((P + 8))
	sleep 1 # let the replicas finish their first sync
	cells replicas redis 127.0.0.1:$((P + 6))
	end_case
}

# start_node ID PORT ENGINE SYNC
start_node() {
	mkdir -p "$DATA/node$2"
	start "node$2" "$BIN" node --listen "127.0.0.1:$2" --dir "$DATA/node$2" --engine "$3" --sync "$4" --id "$1" --log-level warn
}

case_node() {
	start_node 1 $((P + 10)) memory none
	wait_port $((P + 10))
	cells node node 127.0.0.1:$((P + 10))
	end_case
}

# daemon NAME PORT N W R NODES
daemon() {
	start "$1" "$BIN" serve --listen "127.0.0.1:$2" --nodes "$6" --n "$3" --w "$4" --r "$5" --log-level warn
	wait_port "$2"
}

case_n1() {
	start_node 1 $((P + 11)) memory none
	wait_port $((P + 11))
	daemon n1 $((P + 12)) 1 1 1 "1=127.0.0.1:$((P + 11))"
	cells n1 distridata 127.0.0.1:$((P + 12))
	end_case
}

# case_n3 SYSTEM ENGINE SYNC FIRST_PORT
case_n3() {
	local i q=$4 nodes=""
	for i in 1 2 3; do
		start_node "$i" $((q + i - 1)) "$2" "$3"
		nodes="${nodes:+$nodes,}$i=127.0.0.1:$((q + i - 1))"
	done
	for i in 1 2 3; do wait_port $((q + i - 1)); done
	daemon "$1" $((q + 3)) 3 2 2 "$nodes"
	cells "$1" distridata 127.0.0.1:$((q + 3))
	end_case
}

for c in $CASES; do
	log "case $c"
	case $c in
	redis) case_redis ;;
	twemproxy) case_twemproxy ;;
	replicas) case_replicas ;;
	node) case_node ;;
	n1) case_n1 ;;
	n3mem) case_n3 n3mem memory none $((P + 13)) ;;
	n3pebble) case_n3 n3pebble pebble always $((P + 17)) ;;
	*) log "unknown case $c" && exit 2 ;;
	esac
done

# ---------------------------------------------------------------- report

label() {
	case $1 in
	redis) echo "redis-server direct (distridata bench)" ;;
	redis-benchmark) echo "redis-server direct (redis-benchmark)" ;;
	twemproxy) echo "twemproxy + 3 redis (sharded, 1 copy)" ;;
	replicas) echo "redis primary + 2 replicas (async)" ;;
	node) echo "DistriData storage node direct (memory)" ;;
	n1) echo "DistriData daemon N=1 (memory)" ;;
	n3mem) echo "DistriData daemon N=3 W=2 R=2 (memory)" ;;
	n3pebble) echo "DistriData daemon N=3 W=2 R=2 (pebble, sync always)" ;;
	esac
}

systems() {
	local s
	for s in redis redis-benchmark twemproxy replicas node n1 n3mem n3pebble; do
		grep -q "^$s	" "$RESULTS" && echo "$s"
	done
	return 0
}

grid_cells() {
	local size
	for size in $SIZES; do echo "set-p1-$size set-p16-$size get-p16-$size"; done | tr ' ' '\n'
}

kops() { if [ -n "$1" ]; then printf '%.1fk' "$(calc "$1 / 1000")"; else printf -- '—'; fi; }
msf() { if [ -n "$1" ]; then printf '%.3f' "$1"; else printf -- '—'; fi; }

ratio() { # ratio A B: A/B with two decimals, or a dash
	if [ -n "$1" ] && [ -n "$2" ] && awk "BEGIN { exit !($2 > 0) }"; then
		printf '%.2f' "$(calc "$1 / $2")"
	else printf -- '—'; fi
}

cell_label() { # set-p16-100 -> "SET P16 100 B"
	local op p size
	IFS=- read -r op p size <<<"$1"
	echo "${op^^} P${p#p} $size B"
}

report() {
	local s c cells lo_hi
	cells=$(grid_cells)
	echo "# DistriData anchors"
	echo
	echo "- machine: $(lscpu | grep 'Model name' | sed 's/Model name:[[:space:]]*//'), $(nproc) CPUs; servers on CPU 0, generator on CPU 1"
	echo "- $(go version | sed 's/^go version //'); commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (dirty tree)')"
	echo "- $(redis-server --version | awk '{print $1, $2, $3}'); $("$NUTCRACKER" --version 2>&1 | head -1)"
	echo "- pebble data on $(df -T "$DATA" | awk 'NR == 2 { print $2 }') ($DATA)"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- command: \`$CMDLINE\`"
	echo "- method: $CONNS connections, $KEYS uniform keys, closed loop, ${RUN_SECS} s per run after a $WARMUP warmup, median (min..max) of $RUNS runs;"
	echo "  generator \`distridata bench\` unless marked redis-benchmark"
	echo
	echo "## Throughput (ops/s)"
	echo
	printf '| system |'
	for c in $cells; do printf ' %s |' "$(cell_label "$c")"; done
	printf '\n|---|'
	for c in $cells; do printf -- '---|'; done
	echo
	for s in $(systems); do
		printf '| %s |' "$(label "$s")"
		for c in $cells; do
			lo_hi=$(range "$s" "$c" 4 | awk -F'\\.\\.' '{ if (NF == 2) printf "%.0fk..%.0fk", $1 / 1000, $2 / 1000 }')
			printf ' %s (%s) |' "$(kops "$(median "$s" "$c" 4)")" "$lo_hi"
		done
		echo
	done
	echo
	echo "## Ratios of medians"
	echo
	printf '| system |'
	for c in $cells; do printf ' %s vs redis | vs twemproxy |' "$(cell_label "$c")"; done
	printf '\n|---|'
	for c in $cells; do printf -- '---|---|'; done
	echo
	for s in $(systems); do
		printf '| %s |' "$(label "$s")"
		for c in $cells; do
			printf ' %s | %s |' "$(ratio "$(median "$s" "$c" 4)" "$(median redis "$c" 4)")" \
				"$(ratio "$(median "$s" "$c" 4)" "$(median twemproxy "$c" 4)")"
		done
		echo
	done
	echo
	echo "## Latency (ms): open loop at 50% of each system's SET P1 $(first_size) B peak, and low load"
	echo
	echo "| system | open loop: target | achieved | p50 | p99 | sent >1 ms late | low load (1 conn, P1) ops/s | p50 | p99 |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for s in $(systems); do
		[ "$s" = redis-benchmark ] && continue
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(label "$s")" \
			"$(kops "$(median "$s" open 8)")" "$(kops "$(median "$s" open 4)")" "$(msf "$(median "$s" open 5)")" "$(msf "$(median "$s" open 6)")" \
			"$(median "$s" open 9)" \
			"$(kops "$(median "$s" low 4)")" "$(msf "$(median "$s" low 5)")" "$(msf "$(median "$s" low 6)")"
	done
	echo
	local errs
	errs=$(for f in "$WORK"/*.json; do
		jq -r --arg f "$(basename "$f" .json)" 'select((.errors | length) > 0) | "\($f): \(.errors | tojson)"' "$f"  2>/dev/null || true
	done)
	if [ -n "$errs" ]; then
		echo "Runs with errors (their ops/s count ok replies only; UNSENT = open-loop requests due but never"
		echo "sent because the window stayed full: the system did not keep up with the rate):"
		echo
		echo "$errs" | sed 's/^/- /'
		echo
	fi
	echo "Total time: $SECONDS s."
}

report
