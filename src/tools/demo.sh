#!/bin/sh
# demo.sh - the course's finished program under a real Prometheus (lesson
# 09, docs/demo.md). It builds logpipe, runs it on the simulator (200 lines
# a second), starts our own Prometheus (never the system's service) with
# docs/prometheus/prometheus.yml.in rendered into a temporary directory,
# waits for the first successful scrape, prints where to look and what to
# ask, and runs until Ctrl-C. Both processes bind 127.0.0.1 only, on ports
# found free at run time; on exit both are stopped by PID and the temporary
# directory (configuration, TSDB, logs) is removed.
#
#   make demo                   interactive: Ctrl-C stops it
#   DEMO_SECONDS=20 make demo   headless: after 20 s print what Prometheus
#                               saw; exit 0 if it scraped logpipe and holds
#                               log entries, 1 otherwise
#   make demo DEMO_ARGS='--batch 64 --workers 2'
#                               more logpipe options (after --simulate
#                               --rate 200, so --rate N here wins)
#   make demo DEMO_ARGS='--file tests/data/formats/ecs.log --from-start --format ecs'
#                               a log file in place of the simulator
#   make demo DEMO_ARGS='--file a.log --file b.log'
#                               follow files instead of the simulator
#
# Without Prometheus (and no way to install it) logpipe runs alone: one
# scrape is shown with curl, then how to get Prometheus; exit 0.
set -u
cd "$(dirname "$0")/../.." || exit 1
. src/tools/promlib.sh

DEMO_SECONDS=${DEMO_SECONDS:-}
RATE=200
case $DEMO_SECONDS in
"" | *[!0-9]*) [ -n "$DEMO_SECONDS" ] && { echo "DEMO_SECONDS must be a number of seconds"; exit 2; } ;;
esac

trap 'lib_stop' EXIT
trap 'echo; echo "stopping logpipe and Prometheus..."; lib_stop; exit 0' INT TERM HUP

lib_init logpipe-demo
lib_build_logpipe || exit 1

if ! command -v curl >/dev/null 2>&1; then
	sh src/tools/deps.sh ensure curl || { echo "the demo needs curl (Debian: apt-get install curl)"; exit 1; }
fi
have_prometheus=1
if ! command -v prometheus >/dev/null 2>&1; then
	sh src/tools/deps.sh ensure prometheus || true
	command -v prometheus >/dev/null 2>&1 || have_prometheus=0
fi

# The simulator, unless the options name files to follow.
source="--simulate --rate $RATE"
what="the simulator, $RATE lines a second"
case " ${DEMO_ARGS:-} " in *" --file "* | *" --file="*)
	source=""
	what="the files" ;;
esac
# shellcheck disable=SC2086
lib_start_logpipe $source ${DEMO_ARGS:-} || exit 1
echo "started: $LOGPIPE $source${source:+ }${DEMO_ARGS:-}${DEMO_ARGS:+ }--listen 127.0.0.1:$LP_PORT  (pid $LP_PID)"

if [ $have_prometheus = 0 ]; then
	sleep 2 # let a few hundred lines through, so the numbers are not all 0
	echo
	echo "Prometheus is not installed, so here is logpipe alone. One scrape:"
	echo "\$ curl -s http://127.0.0.1:$LP_PORT/metrics"
	curl -s --max-time 5 "http://127.0.0.1:$LP_PORT/metrics" | grep -v '_bucket{' | head -n 40
	echo "(histogram buckets left out; the rest cut at 40 lines)"
	echo
	echo "To see the same numbers in Prometheus, install it, then run make demo again:"
	echo "  Debian/Ubuntu:  sudo apt-get install prometheus"
	echo "                  (then: sudo systemctl disable --now prometheus; the demo runs its own)"
	echo "  elsewhere:      download it from https://prometheus.io/download/ and put the"
	echo "                  prometheus binary on your PATH"
	exit 0
fi

lib_start_prometheus || exit 1
echo "started: prometheus --config.file=$WORK/prometheus.yml"
echo "           --storage.tsdb.path=$WORK/data --web.listen-address=127.0.0.1:$PROM_PORT  (pid $PROM_PID)"
printf 'waiting for the first scrape...'
if ! lib_wait_scrape 60; then
	echo " none within 60 s."
	echo "Prometheus' view of the target: http://127.0.0.1:$PROM_PORT/targets; its log ends with:"
	tail -n 5 "$WORK/prometheus.log"
	exit 1
fi
echo " done."

cat <<EOF

logpipe     http://127.0.0.1:$LP_PORT/metrics       ($what${DEMO_ARGS:+; then $DEMO_ARGS})
Prometheus  http://127.0.0.1:$PROM_PORT/graph         (scrapes logpipe every 2 s)
            http://127.0.0.1:$PROM_PORT/targets       (is the target up?)
            http://127.0.0.1:$PROM_PORT/alerts        (LogpipeHighErrorRatio, LogpipeServiceSilent, LogpipeDown)

Paste these into the Graph page's expression box (the Graph tab draws them):

  rate(logpipe_log_entries_total{level="error"}[1m])
  histogram_quantile(0.9, sum by (le, service) (rate(logpipe_log_latency_seconds_bucket[1m])))
  service:logpipe_error_ratio:rate1m
  time() - logpipe_last_entry_timestamp_seconds
  sum by (reason) (logpipe_parse_errors_total)

Rates need two scrapes inside their window: give it a few seconds.
Files: $WORK (configuration, logs, TSDB; removed on exit)
EOF

if [ -z "$DEMO_SECONDS" ]; then
	echo "Press Ctrl-C to stop both."
	# wait returns when logpipe ends, or when a signal runs the trap.
	wait "$LP_PID"
	LP_PID=""
	echo "logpipe ended on its own; its output ends with:"
	tail -n 5 "$WORK/logpipe.log"
	exit 1
fi

echo "headless: looking again in $DEMO_SECONDS s"
sleep "$DEMO_SECONDS"
lib_alive "$LP_PID" || { echo "logpipe ended on its own:"; tail -n 5 "$WORK/logpipe.log"; exit 1; }

up=$(lib_query 'up{job="logpipe"}')
entries=$(lib_query 'sum(logpipe_log_entries_total)')
echo
echo "What Prometheus holds after ${DEMO_SECONDS} s:"
echo "  up{job=\"logpipe\"}                     ${up:-none}"
echo "  log entries, all services:            ${entries:-none}"
lib_query 'sum by (level) (logpipe_log_entries_total)' level |
	awk '{ printf "    level=%-8s %s\n", $1, $2 }'
echo "  p90 latency over 1m, all services:    $(lib_query \
	'histogram_quantile(0.9, sum by (le) (rate(logpipe_log_latency_seconds_bucket[1m])))') s"
echo "  error ratio over 1m, by service:"
lib_query 'service:logpipe_error_ratio:rate1m' service | awk '{ printf "    service=%-8s %s\n", $1, $2 }'
echo "  seconds since each service's last entry:"
lib_query 'time() - logpipe_last_entry_timestamp_seconds' service |
	awk '{ printf "    service=%-8s %.2f\n", $1, $2; n++ } END { if (!n) print "    none: the gauge of lesson 09 is not exported (is that lesson done?)" }'

if [ "$up" = 1 ] && awk -v n="${entries:-0}" 'BEGIN { exit !(n + 0 > 0) }'; then
	echo "demo: ok (Prometheus scraped logpipe and holds its entries)"
	exit 0
fi
echo "demo: FAILED (expected up == 1 and some log entries)"
exit 1
