# promlib.sh - what demo.sh and e2e.sh share: build logpipe, start it and
# our own Prometheus on free loopback ports, ask Prometheus questions, and
# stop both. Sourced, not run. Every wait has a deadline and every curl a
# timeout, so nothing here can hang; lib_stop kills only the two processes
# started here, by PID, and removes the temporary directory.
#
# Set by the functions (read them, do not set them):
#   WORK       the temporary directory (configuration, TSDB, logs)
#   LOGPIPE    the logpipe binary        LP_PID, LP_PORT      logpipe
#   PROM_PID, PROM_PORT                  Prometheus
# Honoured: MAKE (default make); LOGPIPE=path (else the reference is built).

MAKE=${MAKE:-make}
WORK=""
LP_PID=""
LP_PORT=""
PROM_PID=""
PROM_PORT=""

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

# lib_kill PID: SIGTERM, up to 10 s to end cleanly, then SIGKILL.
# Returns the process's exit status (when it is our child).
lib_kill() {
	[ -n "$1" ] || return 0
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

# Stops Prometheus, then logpipe, and removes WORK. Safe to call twice.
lib_stop() {
	lib_kill "$PROM_PID"
	PROM_PID=""
	lib_kill "$LP_PID"
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

# lib_start_logpipe ARGS...: logpipe with ARGS, serving on a port the
# kernel picks (--listen 127.0.0.1:0: no port to search for, no race with
# another program taking it), which logpipe's first line names. Sets
# LP_PORT and LP_PID once /metrics answers. LP_WRAP, if set, is a command
# to run logpipe under ("valgrind -q ..."). Its output goes to
# $WORK/logpipe.log.
lib_start_logpipe() {
	# shellcheck disable=SC2086
	${LP_WRAP:-} "$LOGPIPE" "$@" --listen 127.0.0.1:0 >"$WORK/logpipe.log" 2>&1 &
	LP_PID=$!
	LP_PORT=""
	end=$(($(date +%s) + 30))
	while [ -z "$LP_PORT" ] && [ "$(date +%s)" -lt "$end" ] && lib_alive "$LP_PID"; do
		sleep 0.1
		LP_PORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$WORK/logpipe.log" | head -n 1)
	done
	[ -n "$LP_PORT" ] && lib_wait_http "http://127.0.0.1:$LP_PORT/metrics" "$LP_PID" 30 && return 0
	lib_say "logpipe did not start serving; its output:"
	tail -n 5 "$WORK/logpipe.log" >&2
	lib_kill "$LP_PID"
	LP_PID=""
	return 1
}

# Prometheus, with docs/prometheus/prometheus.yml.in rendered for LP_PORT,
# on a free port, its TSDB and log in WORK; waits until it is ready.
lib_start_prometheus() {
	cp docs/prometheus/rules.yml "$WORK/rules.yml" || return 1
	sed "s/@LOGPIPE_PORT@/$LP_PORT/" docs/prometheus/prometheus.yml.in >"$WORK/prometheus.yml" || return 1
	for attempt in 1 2 3; do
		PROM_PORT=$(lib_free_port 19090) || { lib_say "no free port in 19090-19189"; return 1; }
		rm -rf "$WORK/data"
		prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
			--web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
		PROM_PID=$!
		lib_wait_http "http://127.0.0.1:$PROM_PORT/-/ready" "$PROM_PID" 30 && return 0
		lib_kill "$PROM_PID"
		PROM_PID=""
		lib_say "Prometheus did not become ready on 127.0.0.1:$PROM_PORT (attempt $attempt); its log:"
		tail -n 5 "$WORK/prometheus.log" >&2
	done
	return 1
}

# lib_query EXPR [LABEL]: asks Prometheus for the instant value of EXPR and
# prints one line per series: "VALUE", or "LABELVALUE VALUE" with LABEL.
# The JSON is cut with awk at each {"metric": ... no jq needed.
lib_query() {
	json=$(curl -s --max-time 5 --get --data-urlencode "query=$1" \
		"http://127.0.0.1:$PROM_PORT/api/v1/query") || return 1
	case $json in *'"status":"success"'*) ;; *) return 1 ;; esac
	printf '%s\n' "$json" | awk -v label="${2:-}" '{
		n = split($0, parts, /\{"metric":/)
		for (i = 2; i <= n; i++) {
			p = parts[i]
			if (!match(p, /"value":\[[^,]*,"[^"]*"\]/)) continue
			v = substr(p, RSTART, RLENGTH)
			sub(/^"value":\[[^,]*,"/, "", v); sub(/"\]$/, "", v)
			if (label == "") { print v; continue }
			key = "-"
			if (match(p, "\"" label "\":\"[^\"]*\""))
				key = substr(p, RSTART + length(label) + 4, RLENGTH - length(label) - 5)
			print key, v
		}
	}'
}

# lib_wait_scrape SECONDS: 0 once Prometheus has scraped logpipe with
# success (up{job="logpipe"} == 1).
lib_wait_scrape() {
	end=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$end" ]; do
		[ "$(lib_query 'up{job="logpipe"}')" = 1 ] && return 0
		lib_alive "$PROM_PID" || return 1
		sleep 0.5
	done
	return 1
}
