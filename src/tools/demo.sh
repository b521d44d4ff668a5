#!/bin/sh
# demo.sh - the course's finished program under a real Prometheus (lesson
# 09, docs/demo.md). It builds logpipe, runs INSTANCES of it on the
# simulator (200 lines a second each), and starts our own Prometheus
# (never the system's service) with docs/prometheus/prometheus.yml.in
# rendered into a temporary directory, and the rules of lesson 10 (RULES,
# the reference's by default); Prometheus finds the logpipes in a
# target file (targets.json) that the demo writes and updates. With
# Alertmanager installed it starts that too, and src/tools/receiver.py,
# which prints each notification. It waits until every target is
# scraped, prints where to look and what to ask, and runs until Ctrl-C.
# Everything binds 127.0.0.1 only, on ports found free at run time; on exit
# every process the demo started is stopped by its PID and the temporary
# directory (configuration, TSDB, logs) is removed.
#
#   make demo                   interactive: Ctrl-C stops it
#   DEMO_SECONDS=20 make demo   headless: after 20 s print what Prometheus
#                               saw and write charts into build/demo/; exit
#                               0 if it scraped every logpipe, holds log
#                               entries and drew the charts, 1 otherwise
#   make demo INSTANCES=3       three logpipes behind one Prometheus
#   make demo SCENARIO=incident headless (DEMO_SECONDS, default 60, at
#                               least 55): a quiet start, then checkout's
#                               error ratio rises past the alert's threshold
#                               and the last instance is stopped; prints
#                               the alert timeline it observed, the
#                               receiver's notifications and the charts
#   make demo DEMO_ARGS='--batch 64 --workers 2'
#                               more logpipe options (after --simulate
#                               --rate 200, so --rate N here wins)
#   make demo DEMO_ARGS='--file tests/data/formats/ecs.log --from-start --format ecs'
#                               a log file in place of the simulator
#   make demo DEMO_ARGS='--file a.log --file b.log'
#                               follow files instead of the simulator
#   DEMO_PROM_PORT=19090, DEMO_AM_PORT=19093
#                               fixed ports (e.g. to forward them), instead
#                               of free ones found at run time
#
# Without Prometheus (and no way to install it) logpipe runs alone: one
# scrape is shown with curl, then how to get Prometheus; exit 0. Without
# Alertmanager (or python3, for the receiver) the demo says so and goes on.
set -u
cd "$(dirname "$0")/../.." || exit 1
. src/tools/promlib.sh
. src/tools/charts.sh

DEMO_SECONDS=${DEMO_SECONDS:-}
INSTANCES=${INSTANCES:-}
SCENARIO=${SCENARIO:-}
RATE=200
CHARTS=build/demo
ALERTMANAGER=${ALERTMANAGER:-prometheus-alertmanager}
# The receiver needs only Python's standard library. Debian's interpreter
# first: a version manager's python3 on PATH (pyenv's shim) can take
# seconds to start.
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

number() { case $1 in "" | *[!0-9]*) return 1 ;; esac; }
case $SCENARIO in
"") INSTANCES=${INSTANCES:-1} ;;
incident)
	INSTANCES=${INSTANCES:-3}
	DEMO_SECONDS=${DEMO_SECONDS:-60}
	;;
*) echo "SCENARIO must be empty or incident, not '$SCENARIO'"; exit 2 ;;
esac
[ -z "$DEMO_SECONDS" ] || number "$DEMO_SECONDS" || { echo "DEMO_SECONDS must be a number of seconds"; exit 2; }
if ! number "$INSTANCES" || [ "$INSTANCES" -lt 1 ] || [ "$INSTANCES" -gt 20 ]; then
	echo "INSTANCES must be a number from 1 to 20, not '$INSTANCES'"
	exit 2
fi
if [ "$SCENARIO" = incident ]; then
	[ "$INSTANCES" -ge 2 ] || { echo "SCENARIO=incident needs INSTANCES=2 or more: one has the incident, one is stopped"; exit 2; }
	[ "$DEMO_SECONDS" -ge 55 ] || { echo "SCENARIO=incident needs DEMO_SECONDS=55 or more (its alerts wait 10 s, their windows are 20 s)"; exit 2; }
fi
DEMO_COMMAND="${DEMO_SECONDS:+DEMO_SECONDS=$DEMO_SECONDS }make demo"
[ "$INSTANCES" -gt 1 ] && DEMO_COMMAND="$DEMO_COMMAND INSTANCES=$INSTANCES"
[ -n "$SCENARIO" ] && DEMO_COMMAND="$DEMO_COMMAND SCENARIO=$SCENARIO"
[ -n "${DEMO_ARGS:-}" ] && DEMO_COMMAND="$DEMO_COMMAND DEMO_ARGS='$DEMO_ARGS'"

trap 'lib_stop' EXIT
trap 'echo; echo "stopping everything the demo started..."; lib_stop; exit 0' INT TERM HUP
# The reader of our output went away (make demo | head): nothing more can
# be said, but everything started must still be stopped.
trap 'lib_stop; exit 1' PIPE

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

# ---- the logpipes ------------------------------------------------------------

# In the incident, instance 1 is the checkout host's exporter: it follows
# checkout.log (--services checkout keeps that service's entries), which
# the simulator of lesson 03 writes as a separate process, first with its
# usual mix, then, during the incident, with mostly errors. The others
# run the simulator inside logpipe, each with its own seed.
WRITER_PID=""
WRITER=build/plain/solutions/bin/03-tailer
QUIET_LEVELS=0,5,65,20,9,1
INCIDENT_LEVELS=0,0,10,0,85,5

# writer LEVELS: (re)starts the writer of checkout.log with that level mix.
# The previous one is stopped first and has flushed its last line by then,
# so two writers never interleave their lines in the file.
writer() {
	lib_kill "$WRITER_PID"
	"$WRITER" --simulate --rate "$RATE" --seed 7 --levels "$1" >>"$WORK/checkout.log" 2>"$WORK/writer.log" &
	WRITER_PID=$!
	lib_track "$WRITER_PID"
}

# instance_args I: the logpipe options of instance I (before DEMO_ARGS;
# none when DEMO_ARGS names a --file of its own).
instance_args() {
	if [ "$SCENARIO" = incident ] && [ "$1" = 1 ]; then
		echo "--file $WORK/checkout.log --services checkout"
	else
		case " ${DEMO_ARGS:-} " in
		*" --file "* | *" --file="*) ;;
		*) echo "--simulate --rate $RATE --seed $1" ;;
		esac
	fi
}

if [ "$SCENARIO" = incident ]; then
	$MAKE -s --no-print-directory "$WRITER" IMPL=solutions >&2 || exit 1
	: >"$WORK/checkout.log"
	writer "$QUIET_LEVELS"
fi

# Each logpipe joins targets.json as soon as it serves, so Prometheus
# scrapes it from its first seconds on (what a slow stage does to the
# channels happens in those seconds).
start_instances() {
	TARGETS=""
	i=1
	while [ "$i" -le "$INSTANCES" ]; do
		# shellcheck disable=SC2046,SC2086
		if ! LP_NAME=logpipe-$i lib_start_logpipe $(instance_args $i) ${DEMO_ARGS:-}; then
			echo "instance $i of $INSTANCES did not start (its output is above): stopping the demo"
			exit 1
		fi
		eval "PID_$i=$LP_PID PORT_$i=$LP_PORT"
		TARGETS="$TARGETS 127.0.0.1:$LP_PORT"
		# Prometheus (when it runs) finds the new target within a second.
		# shellcheck disable=SC2086
		lib_write_targets "$WORK" $TARGETS || exit 1
		echo "started: instance $i: logpipe $(instance_args $i | sed "s|$WORK/||")${DEMO_ARGS:+ $DEMO_ARGS} --listen 127.0.0.1:$LP_PORT  (pid $LP_PID)"
		i=$((i + 1))
	done
}

if [ $have_prometheus = 0 ]; then
	INSTANCES=1
	start_instances
	sleep 2 # let a few hundred lines through, so the numbers are not all 0
	echo
	echo "Prometheus is not installed, so here is logpipe alone. One scrape of instance 1:"
	echo "\$ curl -s http://127.0.0.1:$PORT_1/metrics"
	curl -s --max-time 5 "http://127.0.0.1:$PORT_1/metrics" | grep -v '_bucket{' | head -n 40
	echo "(histogram buckets left out; the rest cut at 40 lines)"
	echo
	echo "To see the same numbers in Prometheus, install it, then run make demo again:"
	echo "  Debian/Ubuntu:  sudo apt-get install prometheus"
	echo "                  (then: sudo systemctl disable --now prometheus; the demo runs its own)"
	echo "  elsewhere:      download it from https://prometheus.io/download/ and put the"
	echo "                  prometheus binary on your PATH"
	exit 0
fi

# ---- the receiver and Alertmanager --------------------------------------------

AM_ADDR=""
start_alertmanager() {
	if ! command -v "$ALERTMANAGER" >/dev/null 2>&1; then
		echo "Alertmanager is not installed, so alerts are shown by Prometheus alone (its Alerts page"
		echo "  and API); Debian: apt-get install prometheus-alertmanager (make deps does it)"
		return 0
	fi
	if [ -z "$PYTHON" ]; then
		echo "python3 is not installed, so there is no receiver for Alertmanager's notifications and no"
		echo "  Alertmanager; Debian: apt-get install python3 (make deps does it)"
		return 0
	fi
	lib_start_announced receiver "$PYTHON" -u src/tools/receiver.py || return 1
	RECEIVER_PID=$LIB_PID RECEIVER_PORT=$LIB_PORT
	echo "started: python3 src/tools/receiver.py  (port $RECEIVER_PORT, pid $RECEIVER_PID)"
	# Every alert is its own group (grouped by all its labels) and is sent
	# a second after it starts firing and again when it resolves.
	cat >"$WORK/alertmanager.yml" <<EOF
route:
  receiver: course
  group_by: ['...']
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: course
    webhook_configs:
      - url: http://127.0.0.1:$RECEIVER_PORT/
        send_resolved: true
EOF
	# --cluster.listen-address= turns off the gossip port (9094 on every
	# interface) that a single Alertmanager does not need.
	lib_start_listener alertmanager "${DEMO_AM_PORT:-}" 19290 -/ready \
		"$ALERTMANAGER" --config.file="$WORK/alertmanager.yml" --storage.path="$WORK/alertmanager" \
		--web.listen-address=127.0.0.1:@PORT@ --cluster.listen-address= || return 1
	AM_PID=$LIB_PID AM_PORT=$LIB_PORT
	AM_ADDR="\"127.0.0.1:$AM_PORT\""
	echo "started: $ALERTMANAGER --web.listen-address=127.0.0.1:$AM_PORT  (pid $AM_PID)"
}
start_alertmanager || { echo "Alertmanager or its receiver did not start (see above): stopping the demo"; exit 1; }

# ---- Prometheus ---------------------------------------------------------------

# Prometheus starts with no target: each logpipe is added as it starts.
lib_render_config "$WORK" "$AM_ADDR" fast && lib_write_targets "$WORK" || exit 1
lib_start_prometheus || { echo "Prometheus did not start (see above): stopping the demo"; exit 1; }
echo "started: prometheus --config.file=$WORK/prometheus.yml"
echo "           --storage.tsdb.path=$WORK/data --web.listen-address=127.0.0.1:$PROM_PORT  (pid $PROM_PID)"

# The timeline and the charts count seconds from here.
T0=$(date +%s)
start_instances
printf 'waiting until Prometheus has scraped all %s...' "$INSTANCES"
if ! lib_wait_scrape 60 "$INSTANCES"; then
	echo " not within 60 s."
	echo "Prometheus' view of the targets: http://127.0.0.1:$PROM_PORT/targets; its log ends with:"
	tail -n 5 "$WORK/prometheus.log"
	exit 1
fi
echo " done."

# targets: "N of M targets up", then one line per target.
targets() {
	lib_query 'up{job="logpipe"}' instance | sort >"$WORK/up.txt"
	echo "targets: $(awk '$2 == 1' "$WORK/up.txt" | wc -l) of $(wc -l <"$WORK/up.txt") up"
	awk '{ printf "  %-22s %s\n", $1, $2 == 1 ? "up" : "DOWN" }' "$WORK/up.txt"
}
targets

cat <<EOF

logpipe     http://127.0.0.1:$PORT_1/metrics       (instance 1 of $INSTANCES: $(instance_args 1 | sed "s|$WORK/||")${DEMO_ARGS:+ $DEMO_ARGS})
Prometheus  http://127.0.0.1:$PROM_PORT/graph         (scrapes every logpipe every 2 s)
            http://127.0.0.1:$PROM_PORT/targets       (are the targets up?)
            http://127.0.0.1:$PROM_PORT/alerts        (LogpipeHighErrorRatio, LogpipeServiceSilent, LogpipeDown)
EOF
[ -n "$AM_ADDR" ] && echo "Alertmanager http://127.0.0.1:$AM_PORT/         (notifications: $WORK/receiver.log)"
cat <<EOF

Paste these into the Graph page's expression box (the Graph tab draws them):

  sum by (service) (rate(logpipe_log_entries_total{level="error"}[1m]))
  service:logpipe_log_latency_seconds:p90_rate1m
  service:logpipe_error_ratio:rate1m
  time() - logpipe_last_entry_timestamp_seconds
  sum without (instance) (logpipe_parse_errors_total)

The rules ($LIB_RULES) run on a compressed clock (20 s windows, for: 10s; see docs/demo.md).
Rates need two scrapes inside their window: give it a few seconds.
Files: $WORK (configuration, targets.json, logs, TSDB; removed on exit)
EOF

# all_alive: 0 while every instance still running runs; says which ended
# (and forgets it, so that it is said once).
all_alive() {
	alive=0
	i=1
	while [ "$i" -le "$INSTANCES" ]; do
		eval "pid=\$PID_$i"
		if [ -n "$pid" ] && ! lib_alive "$pid"; then
			echo "instance $i (pid $pid) ended; its output ends with:"
			tail -n 3 "$WORK/logpipe-$i.log" | sed 's/^/  /'
			eval "PID_$i="
			lib_kill "$pid" # reaps it
			alive=1
		fi
		i=$((i + 1))
	done
	return $alive
}

# running: how many instances still run.
running() {
	n=0
	i=1
	while [ "$i" -le "$INSTANCES" ]; do
		eval "pid=\$PID_$i"
		[ -n "$pid" ] && n=$((n + 1))
		i=$((i + 1))
	done
	echo $n
}

if [ -z "$DEMO_SECONDS" ]; then
	[ "$INSTANCES" -gt 1 ] && echo "Stop one (kill PID, a pid above): its target goes down, and LogpipeDown fires for it 10 s later."
	echo "Press Ctrl-C to stop them all."
	# A signal runs the trap once the sleep of the moment is over. The demo
	# goes on while one logpipe still runs.
	while [ "$(running)" -gt 0 ]; do
		all_alive || [ "$(running)" -eq 0 ] || echo "$(running) of $INSTANCES still running: see http://127.0.0.1:$PROM_PORT/alerts"
		sleep 1
	done
	echo "every logpipe has ended"
	exit 1
fi

# ---- headless ----------------------------------------------------------------------

# alerts_now: one line per active alert, "NAME{LABELS} STATE", sorted.
alerts_now() {
	lib_query 'ALERTS' alertname service instance alertstate |
		awk '{ l = ""
			if ($2 != "-") l = "service=\"" $2 "\""
			if ($3 != "-") l = l (l == "" ? "" : ",") "instance=\"" $3 "\""
			print $1 "{" l "}", $4 }' | sort
}

# watch_alerts: compares the alerts with the last look and prints each
# change as a line of the timeline (also kept in $WORK/timeline.txt).
touch "$WORK/alerts.prev"
watch_alerts() {
	alerts_now >"$WORK/alerts.now" || return 0
	awk -v prefix="$(stamp)" '
		FILENAME == ARGV[1] { prev[$1] = $2; next }
		{ now[$1] = $2; if (!($1 in prev) || prev[$1] != $2) printf "%s%-8s %s\n", prefix, $2, $1 }
		END { for (k in prev) if (!(k in now)) printf "%s%-8s %s\n", prefix, "resolved", k }
	' "$WORK/alerts.prev" "$WORK/alerts.now" | tee -a "$WORK/timeline.txt"
	mv "$WORK/alerts.now" "$WORK/alerts.prev"
}

# stamp: the start of a timeline line, the clock (UTC) and the seconds
# since the first logpipe started.
stamp() { printf '  %s  +%2ds  ' "$(date -u +%H:%M:%S)" $(($(date +%s) - T0)); }

# at SECONDS: 0 once SECONDS (scaled from a 60 s run) have passed since T0,
# when the first logpipe started.
at() { [ $(($(date +%s) - T0)) -ge $(($1 * DEMO_SECONDS / 60)) ]; }

incident() {
	echo
	echo "incident: $DEMO_SECONDS s; checkout's errors rise at +$((8 * DEMO_SECONDS / 60))s and fall at" \
		"+$((28 * DEMO_SECONDS / 60))s, instance $INSTANCES stops at +$((18 * DEMO_SECONDS / 60))s" \
		"and leaves targets.json at +$((42 * DEMO_SECONDS / 60))s"
	echo "timeline (UTC, seconds since the first logpipe started, as Prometheus' API showed it each second):"
	step=0
	port=""
	while [ $(($(date +%s) - T0)) -lt "$DEMO_SECONDS" ]; do
		if [ $step = 0 ] && at 8; then
			writer "$INCIDENT_LEVELS"
			echo "$(stamp)checkout.log: 90% errors from now on (instance 1)"
			step=1
		fi
		if [ $step = 1 ] && at 18; then
			eval "pid=\$PID_$INSTANCES port=\$PORT_$INSTANCES"
			lib_kill "$pid"
			eval "PID_$INSTANCES="
			echo "$(stamp)stopped instance $INSTANCES (127.0.0.1:$port, pid $pid)"
			sleep 3 # two scrapes fail
			targets | sed 's/^/             /'
			step=2
		fi
		if [ $step = 2 ] && at 28; then
			writer "$QUIET_LEVELS"
			echo "$(stamp)checkout.log: back to the usual mix"
			step=3
		fi
		if [ $step = 3 ] && at 42; then
			# shellcheck disable=SC2046,SC2086
			lib_write_targets "$WORK" $(echo $TARGETS | tr ' ' '\n' | grep -v ":$port\$")
			echo "$(stamp)targets.json without 127.0.0.1:$port: Prometheus drops the target"
			step=4
		fi
		watch_alerts
		all_alive || exit 1
		sleep 1
	done
}

if [ "$SCENARIO" = incident ]; then
	incident
else
	echo "headless: looking again in $DEMO_SECONDS s"
	sleep "$DEMO_SECONDS"
	all_alive || exit 1
fi
T1=$(date +%s)

entries=$(lib_query 'sum(logpipe_log_entries_total)')
echo
echo "What Prometheus holds after ${DEMO_SECONDS} s:"
targets | sed 's/^/  /'
echo "  log entries, all instances:           ${entries:-none}"
lib_query 'sum by (level) (logpipe_log_entries_total)' level |
	awk '{ printf "    level=%-8s %s\n", $1, $2 }'
echo "  p90 latency over 20s, all services:   $(lib_query \
	'histogram_quantile(0.9, sum by (le) (rate(logpipe_log_latency_seconds_bucket[20s])))') s"
# recorded TITLE SERIES LABEL...: the values of a recording rule of
# lesson 10, or why there are none.
recorded() {
	echo "  $1 (the recording rule $2):"
	why="no such rule in $LIB_RULES (is lesson 10 done?)"
	grep -q "record: *$2" "$LIB_RULES" && why="the rule has recorded nothing yet (its window holds too few scrapes?)"
	lib_query "$2" "$3" ${4:+"$4"} | awk -v why="$why" '
		{ printf "    %-24s %s\n", $1 (NF > 2 ? " " $2 : ""), $NF; n++ }
		END { if (!n) print "    none: " why }'
}
recorded "error ratio, by service" service:logpipe_error_ratio:rate1m service
recorded "p90 latency, by service" service:logpipe_log_latency_seconds:p90_rate1m service
recorded "channel fill, by instance and channel" instance_channel:logpipe_channel_fill:avg1m instance channel
echo "  seconds since each service's last entry (the latest of every instance):"
lib_query 'time() - max without (instance) (logpipe_last_entry_timestamp_seconds)' service |
	awk '{ printf "    service=%-8s %.2f\n", $1, $2; n++ } END { if (!n) print "    none: the gauge of lesson 10 is not exported (is that lesson done?)" }'

if [ -n "$AM_ADDR" ]; then
	echo
	echo "notifications the receiver got ($(grep -c 'notification from' "$WORK/receiver.log"), times in UTC):"
	sed -n '2,$p' "$WORK/receiver.log" | sed 's/^/  /'
fi

echo
echo "charts (query_range over the run, drawn by gnuplot):"
{
	chart_all "$CHARTS" "$T0" "$T1" "$([ "$SCENARIO" = incident ] && echo alerts)"
	echo $? >"$WORK/charts.rc"
} | sed 's/^/  /'
charts_ok=$(cat "$WORK/charts.rc")

if [ "$SCENARIO" = incident ]; then
	fired() { grep -q "firing   $1" "$WORK/timeline.txt"; }
	others=$(grep "firing   LogpipeDown" "$WORK/timeline.txt" | grep -vc ":$port\"")
	if fired 'LogpipeHighErrorRatio{service="checkout"}' && fired "LogpipeDown{instance=\"127.0.0.1:$port\"}" &&
		[ "$others" = 0 ] && [ "$charts_ok" = 0 ]; then
		echo "demo: ok (checkout's error ratio fired its alert, and LogpipeDown fired for the stopped instance alone)"
		exit 0
	fi
	echo "demo: FAILED (expected LogpipeHighErrorRatio for checkout and LogpipeDown for 127.0.0.1:$port alone to fire, and the charts drawn)"
	exit 1
fi
if [ "$(lib_query 'count(up{job="logpipe"} == 1)')" = "$INSTANCES" ] &&
	awk -v n="${entries:-0}" 'BEGIN { exit !(n + 0 > 0) }' && [ "$charts_ok" = 0 ]; then
	echo "demo: ok (Prometheus scraped every logpipe and holds their entries)"
	exit 0
fi
echo "demo: FAILED (expected every target up, some log entries, and the charts drawn)"
exit 1
