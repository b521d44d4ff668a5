# promlib.sh - what demo.sh, e2e.sh and check.sh share: build logpipe,
# start logpipes, our own Prometheus and other helpers on free loopback
# ports, ask Prometheus questions, and stop everything. Sourced, not run.
# Every wait has a deadline and every curl a timeout, so nothing here can
# hang; lib_stop kills only the processes started here, by PID, and
# removes the temporary directory.
#
# Set by the functions (read them, do not set them):
#   WORK       the temporary directory (configuration, TSDB, logs)
#   LOGPIPE    the logpipe binary        LP_PID, LP_PORT      the last logpipe started
#   PROM_PID, PROM_PORT                  Prometheus
#   LIB_PIDS   every process started here and not yet stopped
# Honoured: MAKE (default make); LOGPIPE=path (else the reference is built);
# LP_NAME (default logpipe): the name of the next logpipe's log in WORK;
# LIB_TARGETS: the scrape targets Prometheus starts with (default: the
# last logpipe started); RULES: the rules file Prometheus loads (default:
# lesson 10's reference, solutions/10-prometheus/rules.yml).

MAKE=${MAKE:-make}
WORK=""
LP_PID=""
LP_PORT=""
PROM_PID=""
PROM_PORT=""
LIB_PIDS=""

lib_say() { printf '%s\n' "$*" >&2; }

# lib_init NAME: the temporary directory everything of this run goes into.
lib_init() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || { lib_say "$1: cannot create a temporary directory"; exit 1; }
}

# 0 if something listens on 127.0.0.1:$1 (or on every interface).
lib_port_busy() {
	if command -v ss >/dev/null 2>&1; then
		ss -ltn 2>/dev/null | awk -v p=":$1" '{ n = length($4) - length(p)
			if (n >= 0 && substr($4, n + 1) == p) f = 1 } END { exit !f }'
	else
		# curl exits 7 when the connection is refused: nobody listens.
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"
		[ $? -ne 7 ]
	fi
}

# lib_free_port LOW: a port of LOW..LOW+99 that nobody listens on, starting
# from a place that depends on our PID, so two runs at once (make -j, a
# demo beside make check) rarely try the same one. Empty if none is free.
# (For Prometheus, which cannot say which port it got when given 0.)
lib_free_port() {
	i=0
	while [ $i -lt 100 ]; do
		p=$(($1 + ($$ + i) % 100))
		lib_port_busy "$p" || { echo "$p"; return 0; }
		i=$((i + 1))
	done
	return 1
}

# 0 while process $1 runs (a zombie, exited but not yet reaped, does not).
lib_alive() {
	[ -n "$1" ] || return 1
	s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $s in "" | Z*) return 1 ;; esac
	return 0
}

# lib_track PID: remembers a process started here, for lib_stop.
lib_track() { LIB_PIDS="$1 $LIB_PIDS"; }

# lib_kill PID: SIGTERM, up to 10 s to end cleanly, then SIGKILL.
# Returns the process's exit status (when it is our child). The PID leaves
# LIB_PIDS: once reaped, the number may be given to another process.
lib_kill() {
	[ -n "$1" ] || return 0
	# shellcheck disable=SC2086 # one PID a line
	LIB_PIDS=$(printf '%s\n' $LIB_PIDS | awk -v p="$1" '$0 != p' | tr '\n' ' ')
	kill -TERM "$1" 2>/dev/null
	n=0
	while lib_alive "$1" && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	if lib_alive "$1"; then
		lib_say "pid $1 ignored SIGTERM for 10 s: killing it"
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
}

# Stops every process started here and removes WORK. Safe to call twice.
# SIGTERM goes to all of them first, so that they end side by side (each
# takes a moment to drain or to close its storage); then each is waited
# for, and killed if it takes more than 10 s.
lib_stop() {
	for lib_pid in $LIB_PIDS; do kill -TERM "$lib_pid" 2>/dev/null; done
	for lib_pid in $LIB_PIDS; do lib_kill "$lib_pid"; done
	PROM_PID=""
	LP_PID=""
	[ -n "$WORK" ] && [ -d "$WORK" ] && rm -rf "$WORK"
	WORK=""
	return 0
}

# Checks LOGPIPE, the binary to run; `make demo` and `make e2e` build it
# and set it (the reference, or IMPL's code when IMPL is given).
lib_build_logpipe() {
	if [ -z "${LOGPIPE:-}" ]; then
		LOGPIPE=build/plain/solutions/bin/logpipe
		$MAKE -s --no-print-directory "$LOGPIPE" IMPL=solutions >&2 || return 1
	fi
	[ -x "$LOGPIPE" ] || { lib_say "LOGPIPE=$LOGPIPE is not an executable"; return 1; }
}

# lib_wait_http URL PID SECONDS: 0 once URL answers 200; 1 if PID ends or
# the deadline passes first.
lib_wait_http() {
	end=$(($(date +%s) + $3))
	while [ "$(date +%s)" -lt "$end" ]; do
		curl -sf -o /dev/null --max-time 2 "$1" && return 0
		lib_alive "$2" || return 1
		sleep 0.2
	done
	return 1
}

# lib_excerpt FILE: a program's output, its first two lines (a reason to
# stop is usually there) and its last three (a crash is there).
lib_excerpt() {
	awk '{ l[NR] = $0 } END {
		for (i = 1; i <= NR; i++)
			if (NR <= 8 || i <= 2 || i > NR - 3) print "  " l[i]
			else if (i == 3) print "  ..."
	}' "$1"
}

# lib_start_announced NAME COMMAND...: runs COMMAND in the background,
# its output in $WORK/NAME.log, and waits up to 30 s for the line in which
# it names the port the kernel gave it ("... (port N) ..."): with port 0
# there is no port to search for and no race with another program taking
# it. Sets LIB_PID and LIB_PORT; 1 (with the end of its output) if the
# process ends or names no port in time.
lib_start_announced() {
	lib_name=$1
	shift
	"$@" >"$WORK/$lib_name.log" 2>&1 &
	LIB_PID=$!
	lib_track "$LIB_PID"
	LIB_PORT=""
	end=$(($(date +%s) + 30))
	while [ -z "$LIB_PORT" ] && [ "$(date +%s)" -lt "$end" ] && lib_alive "$LIB_PID"; do
		sleep 0.1
		LIB_PORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$WORK/$lib_name.log" | head -n 1)
	done
	[ -n "$LIB_PORT" ] && return 0
	lib_say "$lib_name did not start serving; its output:"
	lib_excerpt "$WORK/$lib_name.log" >&2
	lib_kill "$LIB_PID"
	return 1
}

# lib_start_logpipe ARGS...: logpipe with ARGS, serving on a port the
# kernel picks (--listen 127.0.0.1:0), which logpipe's first line names.
# Sets LP_PORT and LP_PID once /metrics answers. LP_WRAP, if set, is a
# command to run logpipe under ("valgrind -q ..."). Its output goes to
# $WORK/$LP_NAME.log (logpipe.log by default).
lib_start_logpipe() {
	LP_PID=""
	LP_PORT=""
	# shellcheck disable=SC2086
	lib_start_announced "${LP_NAME:-logpipe}" ${LP_WRAP:-} "$LOGPIPE" "$@" --listen 127.0.0.1:0 || return 1
	lib_wait_http "http://127.0.0.1:$LIB_PORT/metrics" "$LIB_PID" 30 || {
		lib_say "${LP_NAME:-logpipe} does not answer on /metrics; its output:"
		tail -n 5 "$WORK/${LP_NAME:-logpipe}.log" >&2
		lib_kill "$LIB_PID"
		return 1
	}
	LP_PID=$LIB_PID
	LP_PORT=$LIB_PORT
}

# The demo's rules run on a compressed clock, so that an alert can go
# pending, fire and resolve within a minute: each rate's 1m window becomes
# 20 s (ten scrapes), each `for: 1m` 10 s, the 300 s of silence 60 s.
# The rules file keeps the realistic durations; check.sh runs promtool on
# both renderings.
LIB_FAST_RULES='s/\[1m\]/[20s]/g; s/for: 1m$/for: 10s/; s/ > 300$/ > 60/'
LIB_RULES=${RULES:-solutions/10-prometheus/rules.yml}

# lib_render_config DIR ALERTMANAGERS [fast]: DIR/prometheus.yml from
# docs/prometheus/prometheus.yml.in (ALERTMANAGERS: "" or
# "\"127.0.0.1:PORT\"") and DIR/rules.yml from LIB_RULES, on the demo's
# clock with "fast". The targets come from DIR/targets.json
# (lib_write_targets).
lib_render_config() {
	sed "s/@ALERTMANAGERS@/$2/" docs/prometheus/prometheus.yml.in >"$1/prometheus.yml" || return 1
	if [ "${3:-}" = fast ]; then
		sed "$LIB_FAST_RULES" "$LIB_RULES" >"$1/rules.yml"
	else
		cp "$LIB_RULES" "$1/rules.yml"
	fi
}

# lib_write_targets DIR HOST:PORT...: the file Prometheus discovers its
# targets in (file_sd_configs), replaced in one rename so that Prometheus,
# which watches it, never reads half of it.
lib_write_targets() {
	lib_dir=$1
	shift
	{
		printf '[{"labels": {}, "targets": ['
		lib_sep=""
		for lib_target in "$@"; do
			printf '%s"%s"' "$lib_sep" "$lib_target"
			lib_sep=", "
		done
		printf ']}]\n'
	} >"$lib_dir/targets.json.new" && mv "$lib_dir/targets.json.new" "$lib_dir/targets.json"
}

# lib_start_listener NAME FIXED LOW READY COMMAND...: COMMAND (in which
# @PORT@ stands for the port) on port FIXED, or on a free port of
# LOW..LOW+99 when FIXED is empty, its output in $WORK/NAME.log; waits up
# to 30 s for http://127.0.0.1:PORT/READY to answer 200. A port taken
# between our look and its bind costs one attempt of three (only one with
# a fixed port). Sets LIB_PID and LIB_PORT.
lib_start_listener() {
	lib_name=$1 lib_fixed=$2 lib_low=$3 lib_ready=$4
	shift 4
	for attempt in 1 2 3; do
		LIB_PORT=$(lib_pick_port "$lib_fixed" "$lib_low") || return 1
		# The subshell replaces @PORT@ in its own copy of the arguments and
		# becomes the command (exec), so $! is the command's PID.
		(
			for lib_arg in "$@"; do
				shift
				set -- "$@" "$(printf '%s\n' "$lib_arg" | sed "s/@PORT@/$LIB_PORT/g")"
			done
			exec "$@"
		) >"$WORK/$lib_name.log" 2>&1 &
		LIB_PID=$!
		lib_track "$LIB_PID"
		lib_wait_http "http://127.0.0.1:$LIB_PORT/$lib_ready" "$LIB_PID" 30 && return 0
		lib_kill "$LIB_PID"
		lib_say "$lib_name did not become ready on 127.0.0.1:$LIB_PORT (attempt $attempt); its log ends with:"
		tail -n 5 "$WORK/$lib_name.log" >&2
		[ -n "$lib_fixed" ] && return 1
	done
	return 1
}

# Prometheus on a free port (DEMO_PROM_PORT if set), its TSDB and log in
# WORK, with the configuration lib_render_config wrote there (rendered
# now, for LP_PORT, if there is none); waits until it is ready.
lib_start_prometheus() {
	if [ ! -f "$WORK/prometheus.yml" ]; then
		lib_render_config "$WORK" "" || return 1
		lib_write_targets "$WORK" "${LIB_TARGETS:-127.0.0.1:$LP_PORT}" || return 1
	fi
	lib_start_listener prometheus "${DEMO_PROM_PORT:-}" 19090 -/ready \
		prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
		--web.listen-address=127.0.0.1:@PORT@ || return 1
	PROM_PID=$LIB_PID
	PROM_PORT=$LIB_PORT
}

# lib_pick_port FIXED LOW: FIXED if it is given and free, else a free port
# of LOW..LOW+99; says why not and returns 1 when there is none.
lib_pick_port() {
	if [ -n "$1" ]; then
		case $1 in *[!0-9]* | "") lib_say "not a port number: '$1'"; return 1 ;; esac
		if lib_port_busy "$1"; then
			lib_say "port $1 is already taken on this machine (ss -ltnp shows by whom): choose another"
			return 1
		fi
		echo "$1"
		return 0
	fi
	lib_free_port "$2" && return 0
	lib_say "no free port in $2-$(($2 + 99))"
	return 1
}

# lib_query EXPR [LABEL...]: asks Prometheus for the instant value of
# EXPR and prints one line per series: "VALUE", or with labels
# "LABELVALUE... VALUE" ("-" for a label the series does not have).
# The JSON is cut with awk at each {"metric": ... no jq needed.
lib_query() {
	lib_expr=$1
	shift
	json=$(curl -s --max-time 5 --get --data-urlencode "query=$lib_expr" \
		"http://127.0.0.1:$PROM_PORT/api/v1/query") || return 1
	case $json in *'"status":"success"'*) ;; *) return 1 ;; esac
	printf '%s\n' "$json" | awk -v labels="$*" "$LIB_AWK_LABELS"'{
		n = split($0, parts, /\{"metric":/)
		for (i = 2; i <= n; i++) {
			p = parts[i]
			if (!match(p, /"value":\[[^,]*,"[^"]*"\]/)) continue
			v = substr(p, RSTART, RLENGTH)
			sub(/^"value":\[[^,]*,"/, "", v); sub(/"\]$/, "", v)
			print key(p, labels) v
		}
	}'
}

# An awk function: key(P, LABELS) is the values of the space-separated
# LABELS in the JSON text P of one series, each followed by a space.
LIB_AWK_LABELS='function key(p, labels,   k, names, j, m, out) {
	m = split(labels, names, " ")
	out = ""
	for (j = 1; j <= m; j++) {
		k = "-"
		if (match(p, "\"" names[j] "\":\"[^\"]*\""))
			k = substr(p, RSTART + length(names[j]) + 4, RLENGTH - length(names[j]) - 5)
		out = out k " "
	}
	return out
}'

# lib_query_range EXPR START END STEP FILL [LABEL...]: the values of EXPR
# from START to END (Unix seconds) every STEP seconds, as gnuplot data
# sets: per series a header line "t NAME" (the values of LABELS it has,
# joined with "/"), then "SECONDS_SINCE_START VALUE" for every step, FILL
# where the series has no sample (NaN: a gap; 0: an alert not active),
# then two blank lines. Nothing is printed when no series matched.
lib_query_range() {
	json=$(curl -s --max-time 10 --get --data-urlencode "query=$1" --data-urlencode "start=$2" \
		--data-urlencode "end=$3" --data-urlencode "step=$4" \
		"http://127.0.0.1:$PROM_PORT/api/v1/query_range") || return 1
	case $json in *'"status":"success"'*) ;; *) return 1 ;; esac
	lib_range_args="$2 $3 $4 $5"
	shift 5
	printf '%s\n' "$json" | awk -v args="$lib_range_args" -v labels="$*" "$LIB_AWK_LABELS"'{
		split(args, a, " "); start = a[1]; end = a[2]; step = a[3]; fill = a[4]
		n = split($0, parts, /\{"metric":/)
		for (i = 2; i <= n; i++) {
			p = parts[i]
			m = split(key(p, labels), vals, " ")
			name = ""
			for (j = 1; j <= m; j++)
				if (vals[j] != "-") name = name (name == "" ? "" : "/") vals[j]
			delete at
			rest = p
			while (match(rest, /\[[0-9.]+,"[^"]*"\]/)) {
				pair = substr(rest, RSTART + 1, RLENGTH - 2)
				rest = substr(rest, RSTART + RLENGTH)
				split(pair, tv, ",")
				gsub(/"/, "", tv[2])
				at[int(tv[1] - start + 0.5)] = tv[2]
			}
			print "t", (name == "" ? "value" : name)
			for (t = 0; t <= end - start; t += step)
				print t, ((t in at) ? at[t] : fill)
			print ""; print ""
		}
	}'
}

# lib_wait_scrape SECONDS [N]: 0 once Prometheus has scraped N logpipes
# (default 1) with success (up{job="logpipe"} == 1 for N targets).
lib_wait_scrape() {
	end=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$end" ]; do
		[ "$(lib_query 'count(up{job="logpipe"} == 1)')" = "${2:-1}" ] && return 0
		lib_alive "$PROM_PID" || return 1
		sleep 0.5
	done
	return 1
}
