#!/bin/sh
# bench.sh - make bench: how fast the course's code is, as ratios measured
# in this one run on this one machine (never as a pass/fail threshold).
#
#  1. The channel (bin/chanbench, src/bench/chanbench.c): messages a
#     second for 1 producer and 1 consumer at capacities 0, 1, 4, 64, 1024,
#     and for 4 x 4 at 64; lesson 01's channel beside lesson 14's lock-free
#     one (--impl lockfree), and Go's channel on the same cases when `go` is
#     installed (src/bench/chanbench.go; Debian: apt-get install golang-go).
#     Under capacity 1, its ceiling on this machine: one cache line's round
#     trips a second between two threads (src/bench/roundtrip.c).
#     Then the same channel with batches (lesson 11: chan_send_many and
#     chan_recv_many, the program's --batch), against batches of 1.
#  2. The pipeline: lines a second through logpipe --once on a generated
#     log of BENCH_LINES lines (default 1 000 000), against one thread doing
#     the same work in one loop (src/bench/pipebench.c), and peak memory;
#     logpipe's default flags (lesson 11's batches of PIPELINE_FAST_BATCH in
#     lesson 12's runners, fused, one parser worker a core) with one
#     worker, with two, as they are, with lesson 09's loops one item at a
#     time, with the stages apart, the same with a bigger glibc per-thread
#     cache (GLIBC_TUNABLES), and with jemalloc preloaded when it is
#     installed (Debian: libjemalloc2), and mtail --one_shot counting the
#     same log by level and service when mtail is installed
#     (src/bench/count.mtail; Debian: apt-get install mtail), in rounds
#     with logpipe's default flags. Rows with a target print it
#     (docs/benchmarks.md): --workers 1 for 1.00 of the loop, --workers 2
#     for 1.60, the default flags for 10 times mtail, and peak memory of
#     at most 16 MiB.
#  3. /metrics requests a second and latency under wrk while logpipe
#     ingests at full speed, against / in the same run (when wrk is
#     installed; Debian: apt-get install wrk).
#
# Each figure is the median of BENCH_RUNS runs (default 3). The table goes
# to stdout, the figures to build/bench/result.json.
set -u
cd "$(dirname "$0")/../.." || exit 1
MAKE=${MAKE:-make}
RUNS=${BENCH_RUNS:-3}
# The pipeline's rows, and mtail, are ratios of rounds: at least 9 of them,
# since a row and the loop each move by half from one minute to the next
# here, and the median of fewer rounds still moved by a quarter between
# runs of the whole benchmark.
ROUNDS=$((RUNS > 9 ? RUNS : 9))
LINES=${BENCH_LINES:-1000000}
out=build/bench
mkdir -p "$out"
bin=build/plain/solutions

$MAKE -s --no-print-directory "$bin/bench/chanbench" "$bin/bench/roundtrip" "$bin/bin/03-tailer" "$bin/bench/pipebench" "$bin/bin/logpipe" IMPL=solutions ||
	exit 1

# One cache line's round trips a second between two threads, 200 000 of
# them (a tenth of a second or so: a probe of where the host put the two
# CPUs, not a benchmark; on a loaded machine it measures the scheduler);
# "-" when roundtrip gives no figure (one CPU only).
probe_rt() {
	v=$("$bin/bench/roundtrip" --count 200000 | tail -n 1 | field round_trips_per_s)
	echo "${v:--}"
}
# round trips a second -> the time of one, "N ns" ("-" for none)
rt_ns() { awk -v t="$1" 'BEGIN { if (t > 0) printf "%.0f ns", 1e9 / t; else printf "-" }'; }
# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# the value of key=... in a line
field() { sed -n "s/.*$1=\([0-9.e+]*\).*/\1/p"; }
null_if_none() { case "$1" in "" | -) echo null ;; *) echo "$1" ;; esac; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

gobin=""
if command -v go >/dev/null 2>&1; then
	if GOCACHE="$PWD/$out/gocache" GOFLAGS=-mod=mod GO111MODULE=off go build -o "$out/chanbench-go" src/bench/chanbench.go \
		>"$out/go-build.txt" 2>&1; then
		gobin=$out/chanbench-go
	else
		echo "(go is installed but src/bench/chanbench.go did not build: see $out/go-build.txt)"
	fi
else
	echo "(go is not installed: the Go column is skipped; Debian: apt-get install golang-go)"
fi

# channel CASE: "producers consumers capacity messages [batch]", on lesson
# 01's channel
c_rate() {
	set -- $1
	i=0
	while [ $i -lt "$RUNS" ]; do
		"$bin/bench/chanbench" --impl plain --producers "$1" --consumers "$2" --capacity "$3" \
			--messages "$4" --batch "${5:-1}" | tail -n 1 | field msgs_per_s
		i=$((i + 1))
	done | median
}
go_rate() {
	set -- $1
	i=0
	while [ $i -lt "$RUNS" ]; do
		"$gobin" -producers "$1" -consumers "$2" -capacity "$3" -messages "$4" | tail -n 1 | field msgs_per_s
		i=$((i + 1))
	done | median
}

# One round of a case: one run of each channel in turn, so that a change
# in the machine's load falls on all of them alike; the medians are taken
# over RUNS rounds. Prints "plain lockfree go roundtrips" ("-" where a
# channel has no such case: lesson 14's has no capacity 0). The last: one
# cache line's round trips a second between two threads
# (src/bench/roundtrip.c), run in every round of every case. It is about
# the most any channel of capacity 1 between two cores can move, and it
# says where the machine put the two threads: on this project's reference
# machine, a virtual one, it read 80 ns or 450 ns in the same hour, as the
# host moved its two CPUs, and every ratio moved with it
# (docs/benchmarks.md).
c_round() {
	set -- $1
	for impl in plain lockfree; do
		if [ "$impl" = lockfree ] && [ "$3" -eq 0 ]; then
			printf '%s ' -
			continue
		fi
		v=$("$bin/bench/chanbench" --impl "$impl" --producers "$1" --consumers "$2" \
			--capacity "$3" --messages "$4" | tail -n 1 | field msgs_per_s)
		printf '%s ' "${v:--}"
	done
	v=
	[ -n "$gobin" ] &&
		v=$("$gobin" -producers "$1" -consumers "$2" -capacity "$3" -messages "$4" | tail -n 1 | field msgs_per_s)
	printf '%s ' "${v:--}"
	probe_rt
}
# column k of the rounds on stdin, as a median ("-" if there is none)
column_median() {
	awk -v k="$1" '$k != "-" { print $k }' >"$out/column.txt"
	if [ -s "$out/column.txt" ]; then median <"$out/column.txt"; else echo -; fi
}
target() { # case -> the lock-free channel's target against Go, from lesson 14's issue
	case "$1" in "1 1 0 "*) echo - ;; "1 1 4 "*) echo - ;; *) echo "1.00" ;; esac
}

echo
echo "channel: messages a second (median of $RUNS alternating rounds; load: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "  (target: the lf/Go ratio lesson 14's channel aims for on an idle machine; docs/benchmarks.md)"
echo "  (line rt: one cache line's round trip between the two threads, median of the case's rounds;"
echo "  every ratio depends on it: see docs/benchmarks.md, \"Where the host puts the two CPUs\")"
printf '  %-20s %11s %11s %11s %9s %9s %7s %8s\n' "case" "plain (01)" "lock-free" "Go" \
	"plain/Go" "lf/Go" "target" "line rt"
json_chan=""
for case in "1 1 0 100000" "1 1 1 100000" "1 1 4 1000000" "1 1 64 2000000" "1 1 1024 2000000" "4 4 64 2000000"; do
	set -- $case
	label="${1}x${2} capacity $3"
	i=0
	while [ $i -lt "$RUNS" ]; do
		c_round "$case"
		i=$((i + 1))
	done >"$out/rounds.txt"
	c=$(column_median 1 <"$out/rounds.txt")
	l=$(column_median 2 <"$out/rounds.txt")
	g=$(column_median 3 <"$out/rounds.txt")
	vs_go() { [ "$g" != - ] && [ "$1" != - ] && ratio "$1" "$g" || echo -; }
	trips=$(column_median 4 <"$out/rounds.txt")
	printf '  %-20s %11s %11s %11s %9s %9s %7s %8s\n' "$label" "$c" "$l" "$g" "$(vs_go "$c")" \
		"$(vs_go "$l")" "$(target "$case")" "$(rt_ns "$trips")"
	ceiling=-
	[ "$3" -eq 1 ] && ceiling=$trips
	if [ "$ceiling" != - ]; then
		printf '  %-20s %11s %11s %11s %9s %9s\n' "  ceiling (2 cores)" "" "$ceiling" "" "" "$(vs_go "$ceiling")"
		echo "    (one cache line's round trips a second between two threads: about the most a channel"
		echo "    of capacity 1 between two cores can move; Go's two goroutines take turns on one thread"
		echo "    and are not bound by it; src/bench/roundtrip.c, docs/benchmarks.md)"
	fi
	json_chan="$json_chan${json_chan:+,}
    {\"producers\": $1, \"consumers\": $2, \"capacity\": $3, \"c_msgs_per_s\": $(echo "$c" | sed 's/^-$/null/'), \"lockfree_msgs_per_s\": $(echo "$l" | sed 's/^-$/null/'), \"go_msgs_per_s\": $(echo "$g" | sed 's/^-$/null/'), \"round_trips_per_s\": $(echo "$trips" | sed 's/^-$/null/')}"
done

echo
echo "channel with batches: messages a second (median of $RUNS runs)"
printf '  %-22s %8s %14s %14s %12s %10s\n' "case" "batch" "batch of 1" "batched" "batched/1" "vs Go"
json_batch=""
for case in "1 1 64 2000000 64" "1 1 1024 2000000 8" "1 1 1024 2000000 64" "4 4 64 2000000 16"; do
	set -- $case
	label="${1}x${2} capacity $3"
	one=$(c_rate "$1 $2 $3 $4 1")
	many=$(c_rate "$case")
	g=""
	[ -n "$gobin" ] && g=$(go_rate "$1 $2 $3 $4")
	printf '  %-22s %8s %14.0f %14.0f %12s %10s\n' "$label" "$5" "$one" "$many" "$(ratio "$many" "$one")" \
		"$([ -n "$g" ] && ratio "$many" "$g" || echo -)"
	json_batch="$json_batch${json_batch:+,}
    {\"producers\": $1, \"consumers\": $2, \"capacity\": $3, \"batch\": $5, \"unbatched_msgs_per_s\": $one, \"batched_msgs_per_s\": $many, \"go_msgs_per_s\": ${g:-null}}"
done

log=$out/log-$LINES.log
if [ ! -s "$log" ] || [ "$(wc -l <"$log")" -ne "$LINES" ]; then
	echo
	echo "generating $log ($LINES simulated lines, seed 1)..."
	"$bin/bin/03-tailer" --simulate --count "$LINES" --rate 0 --seed 1 >"$log" 2>/dev/null
fi
cat "$log" >/dev/null # into the page cache: both modes read from memory

# One run of pipebench: mode [options] -> its output line (with P_PRELOAD
# and P_TUNABLES for another allocator, or glibc's knob).
p_once() {
	env ${P_PRELOAD:+LD_PRELOAD="$P_PRELOAD"} ${P_TUNABLES:+GLIBC_TUNABLES="$P_TUNABLES"} \
		"$bin/bench/pipebench" --mode "$@" --file "$log"
}
# The CPUs this process may use, one a line.
cpus=$(taskset -cp $$ 2>/dev/null | sed -n 's/.*list: //p' | tr ',' '\n' |
	awk -F- 'NF == 2 { for (c = $1; c <= $2; c++) print c; next } NF == 1 { print }')
ncpus=$(echo "$cpus" | grep -c .)
# The machine's ceiling at this moment: the loop pinned to each CPU in
# turn (a line "cpu lines/s loop-ratio" each to pinned.txt, the ratio
# against the round's loop, $1) -> the sum of their lines a second. A
# virtual machine's CPUs need not be equal: on the reference machine one
# ran the loop at 0.6 of the other's speed for minutes at a time, then
# both at full speed (docs/benchmarks.md, "Two CPUs that are not
# equal"), and no program that uses them all can move more than their
# sum.
p_pinned() {
	total=0
	for c in $cpus; do
		v=$(taskset -c "$c" "$bin/bench/pipebench" --mode reference --file "$log" | field lines_per_s)
		[ -n "$v" ] || return 1
		echo "$c $v $(ratio "$v" "$1")" >>"$out/pinned.txt"
		total=$(awk -v a="$total" -v b="$v" 'BEGIN { printf "%.0f", a + b }')
	done
	echo "$total"
}
# RUNS rounds of the loop (glibc, as it is) and then the mode, so that a
# change in the machine's speed falls on both alike: this machine's loop
# alone moves by half from one minute to the next. -> the mode's median
# lines/s, its largest max_rss_kb, and the median of the rounds' ratios.
p_run() {
	i=0
	: >"$out/runs.txt"
	: >"$out/ratios.txt"
	: >"$out/pinned.txt"
	: >"$out/shares.txt"
	: >"$out/ceilings.txt"
	: >"$out/trips.txt"
	while [ $i -lt "$ROUNDS" ]; do
		probe_rt >>"$out/trips.txt"
		r=$(P_PRELOAD= P_TUNABLES= p_once reference | field lines_per_s) || return 1
		if [ -n "$P_CEILING" ]; then
			sum=$(p_pinned "$r") || return 1
			ratio "$sum" "$r" >>"$out/ceilings.txt"
			echo >>"$out/ceilings.txt"
		fi
		line=$(p_once "$@") || return 1
		echo "$line" >>"$out/runs.txt"
		ratio "$(echo "$line" | field lines_per_s)" "$r" >>"$out/ratios.txt"
		echo >>"$out/ratios.txt"
		[ -n "$P_CEILING" ] && ratio "$(echo "$line" | field lines_per_s)" "$sum" >>"$out/shares.txt" &&
			echo >>"$out/shares.txt"
		i=$((i + 1))
	done
	rate=$(field lines_per_s <"$out/runs.txt" | median)
	rss=$(field max_rss_kb <"$out/runs.txt" | sort -g | tail -n 1)
	echo "$rate $rss $(median <"$out/ratios.txt") $(column_median 1 <"$out/trips.txt")"
}
echo
echo "pipeline: lines a second on $LINES lines, $(($(wc -c <"$log") / 1048576)) MiB (median of $ROUNDS runs;"
echo "  each ratio: the median of $ROUNDS rounds of the loop, then the row)"
echo "  (line rt: one cache line's round trip between two threads, in the row's rounds, as in the"
echo "  channel's table: where the host put the two CPUs while the row ran)"
printf '  %-58s %12s %8s %12s %8s %8s\n' "mode" "lines/s" "ratio" "peak memory" "target" "line rt"
P_PRELOAD=
P_TUNABLES=
P_CEILING=
i=0
: >"$out/runs.txt"
while [ $i -lt "$ROUNDS" ]; do
	p_once reference >>"$out/runs.txt" || exit 1
	i=$((i + 1))
done
set -- "$(field lines_per_s <"$out/runs.txt" | median)" "$(field max_rss_kb <"$out/runs.txt" | sort -g | tail -n 1)"
ref=$1
printf '  %-58s %12.0f %8s %9s KiB %8s\n' "one thread, one loop (the reference)" "$1" "1.00" "$2" "-"
json_pipe="{\"mode\": \"reference\", \"lines_per_s\": $1, \"max_rss_kb\": $2}"
# A row of the table: label, target ratio (- for none), then p_run's
# arguments (with P_PRELOAD set for another allocator). Sets last to the
# row's lines a second.
p_row() {
	label=$1
	goal=$2
	shift 2
	mode="$*${P_PRELOAD:+, jemalloc}${P_TUNABLES:+, $P_TUNABLES}"
	set -- $(p_run "$@")
	last=$1
	printf '  %-58s %12.0f %8s %9s KiB %8s %8s\n' "$label" "$1" "$3" "$2" "$goal" "$(rt_ns "$4")"
	json_pipe="$json_pipe,
    {\"mode\": \"$mode\", \"lines_per_s\": $1, \"max_rss_kb\": $2, \"ratio\": $(null_if_none "$3"), \"round_trips_per_s\": $(null_if_none "$4")}"
}
p_row "logpipe --once --workers 1 (otherwise default flags)" 1.00 pipeline --workers 1
json_ceiling=null
# Two workers, with the machine's ceiling measured in the same rounds
# (taskset pins the loop to each CPU), where the process may use exactly
# two CPUs: the ceiling of two
# workers is then both CPUs' sum (on more, two workers against all of them
# would say nothing, and pinning to each would take minutes). Two
# hyperthreads of one core would read higher here than they can do at once.
[ "$ncpus" -eq 2 ] && command -v taskset >/dev/null 2>&1 && P_CEILING=1
p_row "logpipe --once --workers 2" 1.60 pipeline --workers 2
if [ -n "$P_CEILING" ]; then
	sums=0
	for c in $cpus; do
		v=$(awk -v c="$c" '$1 == c { print $2 }' "$out/pinned.txt" | median)
		x=$(awk -v c="$c" '$1 == c { print $3 }' "$out/pinned.txt" | median)
		printf '  %-58s %12.0f %8s %12s %8s\n' "  the loop pinned to CPU $c, in the same rounds" "$v" "$x" "" "-"
		sums=$(awk -v a="$sums" -v b="$v" 'BEGIN { printf "%.0f", a + b }')
	done
	share=$(median <"$out/shares.txt")
	printf '  %-58s %12.0f %8s %12s %8s\n' "  ceiling: all $ncpus CPUs running the loop (their sum)" "$sums" "$(median <"$out/ceilings.txt")" "" "-"
	echo "    (--workers 2 moved $share of the ceiling: the median of its rounds' shares; no program"
	echo "    using these CPUs could move more than their sum, and the ratio 1.60 assumes equal CPUs)"
	json_ceiling="{\"cpus\": $ncpus, \"lines_per_s\": $sums, \"ratio\": $(null_if_none "$(median <"$out/ceilings.txt")"), \"workers_2_share\": $(null_if_none "$share")}"
	P_CEILING=
fi
p_row "logpipe --once (default flags: one worker a core, $(nproc) here)" - pipeline
p_row "logpipe --once --batch 0 (lesson 09's loops, one at a time)" - pipeline --batch 0
p_row "logpipe --once --batch 64" - pipeline --batch 64
p_row "logpipe --once --separate-stages (not fused)" - pipeline --separate-stages
# glibc with a bigger per-thread cache of freed blocks (1024 a size class
# instead of 7): a thread that frees what another allocated keeps more of
# it at hand, and reuses it for its own allocations of the same size.
P_TUNABLES=glibc.malloc.tcache_count=1024
p_row "logpipe --once --workers 1, tcache_count=1024" - pipeline --workers 1
p_row "logpipe --once --workers 2, tcache_count=1024" - pipeline --workers 2
P_TUNABLES=
# The same with jemalloc, whose per-thread caches take back memory freed on
# another thread: what the allocator still costs the pipeline.
P_PRELOAD=$({ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | sed -n 's/.*libjemalloc\.so\.2 .*=> \(.*\)/\1/p' | head -n 1)
if [ -n "$P_PRELOAD" ]; then
	p_row "one loop, jemalloc" - reference
	p_row "logpipe --once --workers 1, jemalloc" - pipeline --workers 1
	p_row "logpipe --once --workers 2, jemalloc" - pipeline --workers 2
	P_PRELOAD=
else
	echo "  (jemalloc is not installed: its rows are skipped; Debian: apt-get install libjemalloc2)"
fi

# mtail counting the same log (one_shot: read to the end, print, exit).
json_mtail="null"
if command -v mtail >/dev/null 2>&1; then
	# In rounds with logpipe's default flags, as the rows are with the loop:
	# the ratio is the median of the rounds'.
	i=0
	: >"$out/mtail.txt"
	: >"$out/mtail-ratios.txt"
	while [ $i -lt "$ROUNDS" ]; do
		d=$(p_once pipeline | field lines_per_s) || break
		t0=$(date +%s.%N)
		mtail --one_shot --one_shot_format=prometheus --progs src/bench/count.mtail --logs "$log" \
			>"$out/mtail-metrics.txt" 2>"$out/mtail-log.txt" || break
		t1=$(date +%s.%N)
		awk -v n="$LINES" -v a="$t0" -v b="$t1" 'BEGIN { printf "lines_per_s=%.0f\n", n / (b - a) }' >>"$out/mtail.txt"
		ratio "$d" "$(tail -n 1 "$out/mtail.txt" | field lines_per_s)" >>"$out/mtail-ratios.txt"
		echo >>"$out/mtail-ratios.txt"
		i=$((i + 1))
	done
	m=$(field lines_per_s <"$out/mtail.txt" | median)
	# mtail may print the count as 1e+06: compare it as a number
	if awk -v n="$LINES" '/^lines_total/ && $NF + 0 == n { ok = 1 } END { exit !ok }' "$out/mtail-metrics.txt"; then
		printf '  %-58s %12.0f %8s %12s %8s\n' "mtail --one_shot (src/bench/count.mtail)" "$m" "$(ratio "$m" "$ref")" "-" "-"
		over=$(median <"$out/mtail-ratios.txt")
		printf '  %-58s %12s %8s %12s %8s\n' "logpipe --once (default flags) / mtail, in rounds" "" "$over" "" "10.00"
		json_mtail="{\"lines_per_s\": $m, \"logpipe_default_over_mtail\": $over}"
	else
		echo "  (mtail did not count $LINES lines: see $out/mtail-log.txt)"
	fi
else
	echo "  (mtail is not installed: its row is skipped; Debian: apt-get install mtail)"
fi
echo "  (target for peak memory: at most 16384 KiB in every logpipe row)"

# 3. /metrics under load: logpipe ingesting at full speed while wrk asks,
# against / (a tiny fixed page) in the same run: the ratio is what the
# render costs. Skipped without wrk.
json_http="null"
if command -v wrk >/dev/null 2>&1; then
	wrk_run() { # path -> "requests/s p50_ms p99_ms"
		wrk -t2 -c16 -d5s --latency "http://127.0.0.1:$LP_PORT$1" 2>/dev/null | awk '
			/Requests\/sec/ { r = $2 }
			function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; return v * 1000 }
			$1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
			END { printf "%s %.2f %.2f\n", r, p50, p99 }'
	}
	. src/tools/promlib.sh
	trap 'lib_stop' EXIT
	lib_init logpipe-bench
	LOGPIPE=$bin/bin/logpipe
	if lib_start_logpipe --simulate --rate 0; then
		set -- $(wrk_run /)
		base=$1
		echo
		echo "/metrics: requests a second while logpipe ingests at full speed (wrk, 2 threads, 16 connections, 5 s)"
		printf '  %-34s %12s %8s %10s %10s\n' "path" "requests/s" "ratio" "p50 ms" "p99 ms"
		printf '  %-34s %12.0f %8s %10s %10s\n' "/ (a fixed page: the baseline)" "$1" "1.00" "$2" "$3"
		set -- $(wrk_run /metrics)
		printf '  %-34s %12.0f %8s %10s %10s\n' "/metrics (a render per request)" "$1" "$(ratio "$1" "$base")" "$2" "$3"
		json_http="{\"root_requests_per_s\": $base, \"metrics_requests_per_s\": $1, \"metrics_p50_ms\": $2, \"metrics_p99_ms\": $3}"
	fi
	lib_stop
else
	echo
	echo "(wrk is not installed: the /metrics load test is skipped; Debian: apt-get install wrk)"
fi

cat >"$out/result.json" <<JSON
{
  "machine": "$(uname -sm), $(getconf _NPROCESSORS_ONLN) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)",
  "go": "$([ -n "$gobin" ] && go version | cut -d' ' -f3)",
  "channel": [$json_chan
  ],
  "channel_batches": [$json_batch
  ],
  "pipeline_lines": $LINES,
  "pipeline": [
    $json_pipe
  ],
  "pipeline_ceiling": $json_ceiling,
  "mtail": $json_mtail,
  "http": $json_http
}
JSON
echo
echo "figures written to $out/result.json"
