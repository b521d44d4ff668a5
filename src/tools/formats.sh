#!/bin/sh
# formats.sh LOGPIPE - logpipe --once on each sample of tests/data/formats,
# checked against its .expected: the first line names the options, every
# logpipe_ line must appear as it is, no other logpipe_log_entries_total
# series may, and logpipe must find every line accounted for. Then
# --format default on tests/data/sample.log must count exactly what no
# --format counts (the preset is parse_log_line's rules, written as a
# format; the wall-clock gauge of lesson 10 aside). Prints one line per
# check and "N passed, M failed" last.
set -u
lp=$1
dir=tests/data/formats
out=${TMPDIR:-/tmp}/formats.$$
passed=0
failed=0
trap 'rm -f "$out".*' EXIT

ok() { passed=$((passed + 1)); echo "  ok  $1"; }
bad() { failed=$((failed + 1)); echo "  FAILED: $1"; }

for want in "$dir"/*.expected; do
	log=${want%.expected}.log
	# The options: what follows the file's name on the first line.
	args=$(sed -n '1s/^# logpipe --once --file [^ ]* //p' "$want")
	# shellcheck disable=SC2086 # args is a list of options
	if ! "$lp" --once --file "$log" $args >"$out.prom" 2>"$out.err"; then
		bad "logpipe --once --file $log $args failed: $(tail -n 1 "$out.err")"
		continue
	fi
	missing=$(grep '^logpipe_' "$want" | grep -Fxv -f "$out.prom")
	extra=$(grep '^logpipe_log_entries_total' "$out.prom" | grep -Fxv -f "$want")
	if [ -n "$missing$extra" ]; then
		bad "$log ($args): expected, not printed: ${missing:-none}; printed, not expected: ${extra:-none}"
	elif ! grep -q 'all [0-9]* lines accounted for' "$out.err"; then
		bad "$log ($args): $(tail -n 1 "$out.err")"
	else
		ok "$log ($args): $(awk '/^logpipe_log_entries_total/ { e += $2 } /^logpipe_parse_errors_total/ { x += $2 }
			END { printf "%d entries, %d parse errors", e, x }' "$out.prom"), every line accounted for"
	fi
done

# One parser worker in both: with several, series appear in the order the
# workers first counted them, and latency sums in another order of addition.
"$lp" --once --workers 1 --file tests/data/sample.log 2>/dev/null | grep '^logpipe_' | grep -v '^logpipe_last_entry\|^logpipe_stage_blocked' >"$out.plain"
"$lp" --once --workers 1 --file tests/data/sample.log --format default 2>/dev/null | grep '^logpipe_' | grep -v '^logpipe_last_entry\|^logpipe_stage_blocked' >"$out.default"
if [ -s "$out.plain" ] && cmp -s "$out.plain" "$out.default"; then
	ok "--format default counts tests/data/sample.log as no --format does"
else
	bad "--format default and no --format count tests/data/sample.log differently"
fi

# Bad options get a reason and exit status 2, never a run.
for opt in "--format log4j" "--level-field a..b" "--level-field ,level" "--container podman" \
	"--level-scale rfc5424" "--container cri --workers 2"; do
	# shellcheck disable=SC2086
	"$lp" --once --file tests/data/sample.log $opt >/dev/null 2>"$out.err"
	rc=$?
	if [ "$rc" -eq 2 ] && grep -q '^logpipe: ' "$out.err"; then
		ok "$opt: refused ($(head -n 1 "$out.err"))"
	else
		bad "$opt: exit $rc, expected 2 and a reason"
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
