#!/bin/sh
# e2e.sh - the end-to-end test: logpipe reads tests/data/sample.log, a real
# Prometheus scrapes it, and the counts Prometheus stores must be exactly
# those tests/data/sample.expected lists. It proves the whole chain: the
# tailer, parser, filter and metrics stages, the HTTP server, and the text
# format as Prometheus itself parses it.
#
# One line per assertion ("ok ..." or "FAILED ... expected X got Y"); the
# last line is "N passed, M failed"; exit 0 only if nothing failed. Where
# Prometheus cannot be had, the same assertions are made on logpipe's own
# /metrics, and a line says that the Prometheus half was skipped.
#
#   sh src/tools/e2e.sh                      (LOGPIPE=path: use that binary)
set -u
cd "$(dirname "$0")/../.." || exit 1
. src/tools/promlib.sh

SAMPLE=tests/data/sample.log
EXPECTED=tests/data/sample.expected
SCRAPE_DEADLINE=60
passed=0
failed=0

finish() {
	lib_stop
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}
trap 'lib_stop' EXIT
trap 'echo "interrupted"; failed=$((failed + 1)); finish' INT TERM HUP

ok() { passed=$((passed + 1)); echo "ok      $1"; }
bad() { failed=$((failed + 1)); echo "FAILED  $1"; }
fatal() { bad "$1"; finish; }

# A count of sample.expected ("name value" lines), 0 if it is not listed.
expected() { awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' "$EXPECTED"; }

# check WHAT EXPECTED GOT: numbers compare as numbers ("41" == "41.0").
check() {
	if [ -n "$3" ] && awk -v a="$2" -v b="$3" 'BEGIN { exit !(a + 0 == b + 0) }'; then
		ok "$1 == $2"
	else
		bad "$1: expected $2 got ${3:-nothing}"
	fi
}

# --- where the numbers come from: Prometheus, or logpipe's /metrics ---

# value EXPR: the single value of a PromQL expression.
# by LABEL EXPR: "labelvalue value" lines.
# In direct mode (no Prometheus) a tiny awk stands in for the few queries
# below: it sums the exposition's samples of one metric, by one label.
DIRECT=0
exposition_sum() { # METRIC [LABEL]
	curl -s --max-time 5 "http://127.0.0.1:$LP_PORT/metrics" | awk -v m="$1" -v label="${2:-}" '
		/^#/ { next }
		{ name = $1; sub(/\{.*/, "", name) }
		name != m { next }
		{
			key = "-"
			if (label != "" && match($1, label "=\"[^\"]*\""))
				key = substr($1, RSTART + length(label) + 2, RLENGTH - length(label) - 3)
			sum[key] += $NF; seen = 1
		}
		END { for (k in sum) print (label == "" ? "" : k " ") sum[k] }'
}
value() {
	if [ $DIRECT = 1 ]; then
		case $1 in
		up) curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$LP_PORT/metrics" && echo 1 || echo 0 ;;
		*) exposition_sum "$1" ;;
		esac
	else
		lib_query "$1" | head -n 1
	fi
}
by() {
	if [ $DIRECT = 1 ]; then exposition_sum "$2" "$1"; else lib_query "sum by ($1) ($2)" "$1"; fi
}
pick() { awk -v k="$1" '$1 == k { print $2 }'; } # the value of one label value

# --- start everything ---

for f in "$SAMPLE" "$EXPECTED" docs/prometheus/prometheus.yml.in "$LIB_RULES"; do
	[ -f "$f" ] || { echo "e2e: $f is missing"; exit 1; }
done
lib_init logpipe-e2e
command -v curl >/dev/null 2>&1 || sh src/tools/deps.sh ensure curl >&2 || fatal "curl is needed (apt-get install curl)"
if ! command -v prometheus >/dev/null 2>&1; then
	sh src/tools/deps.sh ensure prometheus >&2 || true
	command -v prometheus >/dev/null 2>&1 || DIRECT=1
fi

lib_build_logpipe || fatal "building logpipe"
STARTED=$(date +%s)
lib_start_logpipe --file "$SAMPLE" --from-start || fatal "logpipe serves /metrics"
ok "logpipe serves 127.0.0.1:$LP_PORT/metrics"

# The file is small and fixed: wait until logpipe has read all of it, so
# that the first scrape already holds the final counts.
lines=$(expected lines)
end=$(($(date +%s) + 10))
while [ "$(exposition_sum logpipe_lines_read_total)" != "$lines" ] && [ "$(date +%s)" -lt "$end" ]; do
	sleep 0.2
done

if [ $DIRECT = 1 ]; then
	echo "SKIPPED the Prometheus half: prometheus is not installed (Debian: apt-get install prometheus;"
	echo "        elsewhere: https://prometheus.io/download/). Checking logpipe's /metrics directly."
else
	lib_start_prometheus || fatal "Prometheus starts (log above)"
	ok "Prometheus ready on 127.0.0.1:$PROM_PORT"
	if lib_wait_scrape "$SCRAPE_DEADLINE"; then
		ok "Prometheus scraped logpipe"
	else
		lib_query 'up{job="logpipe"}' >/dev/null && echo "        (up{job=\"logpipe\"} is $(lib_query 'up{job="logpipe"}'))"
		echo "        Prometheus' targets page: http://127.0.0.1:$PROM_PORT/targets; its log:"
		tail -n 5 "$WORK/prometheus.log" | sed 's/^/        /'
		fatal "no successful scrape within ${SCRAPE_DEADLINE}s"
	fi
fi

# --- the assertions ---

check 'up{job="logpipe"}' 1 "$(value up)"
check logpipe_lines_read_total "$lines" "$(value logpipe_lines_read_total)"

reasons=$(by reason logpipe_parse_errors_total)
for r in invalid_json missing_level bad_level too_long; do
	check "logpipe_parse_errors_total{reason=\"$r\"}" "$(expected "errors.$r")" "$(echo "$reasons" | pick "$r")"
done

# The default --min-level is info: trace and debug entries are filtered,
# the others reach the metrics stage. A level with none is absent, or 0.
levels=$(by level logpipe_log_entries_total)
filtered=0
for l in trace debug info warn error fatal; do
	n=$(expected "level.$l")
	case $l in
	trace | debug)
		filtered=$((filtered + n))
		got=$(echo "$levels" | pick "$l")
		check "sum(logpipe_log_entries_total{level=\"$l\"}) (filtered out)" 0 "${got:-0}"
		;;
	*) check "sum(logpipe_log_entries_total{level=\"$l\"})" "$n" "$(echo "$levels" | pick "$l")" ;;
	esac
done
check logpipe_filtered_total "$filtered" "$(value logpipe_filtered_total)"

# By service, after the filter (sample.expected's kept.service.* lines).
services=$(by service logpipe_log_entries_total)
for key in $(awk '$1 ~ /^kept\.service\./ { print $1 }' "$EXPECTED"); do
	s=${key#kept.service.}
	check "sum(logpipe_log_entries_total{service=\"$s\"})" "$(expected "$key")" "$(echo "$services" | pick "$s")"
done

# Lesson 10's gauge: one series per service that had an entry counted,
# each a Unix time between logpipe's start and now.
stamps=$(by service logpipe_last_entry_timestamp_seconds)
check "number of logpipe_last_entry_timestamp_seconds series" \
	"$(grep -c '^kept\.service\.' "$EXPECTED")" "$(echo "$stamps" | grep -c .)"
now=$(date +%s)
bad_stamps=$(echo "$stamps" | awk -v lo="$STARTED" -v hi="$((now + 1))" 'NF == 2 && !($2 >= lo && $2 <= hi)')
if [ -z "$bad_stamps" ]; then
	ok "every last-entry timestamp lies between logpipe's start and now"
else
	bad "last-entry timestamps outside [$STARTED, $now]: $bad_stamps"
fi
check logpipe_series_dropped_total 0 "$(value logpipe_series_dropped_total)"

# Every line read is accounted for exactly once (pipeline.h).
if [ $DIRECT = 0 ]; then
	check "lines read - errors - filtered - entries - dropped" 0 "$(value 'sum(logpipe_lines_read_total) -
		sum(logpipe_parse_errors_total) - sum(logpipe_filtered_total) -
		sum(logpipe_log_entries_total) - sum(logpipe_series_dropped_total)')"
fi

finish
