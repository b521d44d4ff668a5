# charts.sh - the demo's charts: what Prometheus recorded during a run,
# asked with query_range and drawn by gnuplot as SVG (no browser). Sourced
# by demo.sh after promlib.sh, not run.
#
#   chart_all DIR START END [alerts]
#       writes DIR/NAME.dat (the data, gnuplot data sets) and, when gnuplot
#       is installed, DIR/NAME.svg for each chart below, and prints the
#       path of each SVG it wrote. START and END are Unix seconds; the x
#       axis counts seconds from START. 1 if a query or gnuplot failed
#       (said on stderr); a chart without data is left out, not a failure.
#
# The windows are the demo's ([20s], as in its rules on the compressed
# clock, LIB_FAST_RULES): ten scrapes, so a rate moves within seconds.

CHART_STEP=2 # the scrape interval: a finer step only repeats samples

# chart DIR NAME FILL TITLE YLABEL STYLE EXPR LABEL...: one chart. FILL is
# what a missing sample becomes (NaN: a gap; 0 for the alert states);
# STYLE is extra gnuplot commands. Prints the SVG's path, or nothing
# when Prometheus has no series for EXPR or only gaps.
chart() {
	dir=$1 name=$2 fill=$3 title=$4 ylabel=$5 style=$6 expr=$7
	shift 7
	lib_query_range "$expr" "$CHART_START" "$CHART_END" "$CHART_STEP" "$fill" "$@" >"$dir/$name.dat" ||
		{ lib_say "query_range failed for $name: $expr"; return 1; }
	# No series, or series of gaps only (a log without latencies): nothing to draw.
	awk 'NF >= 2 && $1 != "t" && $2 != "NaN" { found = 1 } END { exit !found }' "$dir/$name.dat" ||
		{ lib_say "no data for $name: $expr"; return 0; }
	[ "$CHART_GNUPLOT" = 1 ] || return 0
	sets=$(grep -c '^t ' "$dir/$name.dat")
	gnuplot 2>"$dir/$name.gnuplot.err" <<EOF || { lib_say "gnuplot failed on $name:"; cat "$dir/$name.gnuplot.err" >&2; return 1; }
set terminal svg size 900,400 noenhanced font 'sans,12' background rgb 'white'
set output '$dir/$name.svg'
set title "$title\\n$CHART_CAPTION"
set xlabel 'seconds since the first logpipe started'
set ylabel '$ylabel'
set key outside right top noautotitle
set grid
set datafile missing 'NaN'
set style data lines
set xrange [0:$((CHART_END - CHART_START))]
$style
plot for [i=0:$((sets - 1))] '$dir/$name.dat' index i using 1:2 lw 2 title columnheader(2)
EOF
	rm -f "$dir/$name.gnuplot.err"
	echo "$dir/$name.svg"
}

chart_all() {
	CHART_START=$2 CHART_END=$3
	CHART_GNUPLOT=1
	command -v gnuplot >/dev/null 2>&1 || CHART_GNUPLOT=0
	CHART_CAPTION="${DEMO_COMMAND:-make demo}, $(date -u -d "@$2" '+%Y-%m-%d %H:%M') UTC"
	mkdir -p "$1" || return 1
	rm -f "$1"/*.svg "$1"/*.dat
	chart_failed=0
	chart "$1" error-rate NaN "errors per second, per service (every instance)" "entries/s" "" \
		'sum by (service) (rate(logpipe_log_entries_total{level=~"error|fatal"}[20s]))' service || chart_failed=1
	chart "$1" error-ratio NaN "error ratio, per service: the recording rule, and the alert's threshold" \
		"share of entries" \
		"set yrange [0:1]; set arrow from graph 0, first 0.2 to graph 1, first 0.2 nohead dt 2 lc rgb 'red'" \
		'service:logpipe_error_ratio:rate1m' service || chart_failed=1
	chart "$1" latency-p90 NaN "p90 latency, per service (every instance)" "seconds" "" \
		'histogram_quantile(0.9, sum by (le, service) (rate(logpipe_log_latency_seconds_bucket[20s])))' service ||
		chart_failed=1
	chart "$1" channel-depth NaN "channel depth, per channel (the fullest instance)" "items in the channel" \
		"set yrange [0:*]" 'max by (channel) (logpipe_channel_depth)' channel || chart_failed=1
	if [ "${4:-}" = alerts ]; then
		chart "$1" alerts 0 "alert states (0 inactive, 1 pending, 2 firing)" "state" \
			"set style data steps; set yrange [-0.1:2.3]; set ytics ('inactive' 0, 'pending' 1, 'firing' 2)" \
			'max by (alertname, service, instance) (ALERTS{alertstate="firing"}) * 2 or max by (alertname, service, instance) (ALERTS{alertstate="pending"})' \
			alertname service instance || chart_failed=1
	fi
	if [ "$CHART_GNUPLOT" = 0 ]; then
		echo "gnuplot is not installed, so the charts are data only ($1/*.dat);"
		echo "  Debian: apt-get install gnuplot-nox (make deps does it), then run the demo again"
	fi
	return $chart_failed
}
