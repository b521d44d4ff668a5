#!/bin/sh
# grade.sh - the grader behind `make test`. For each selected lesson it
# builds that lesson's test program (the lesson's code from IMPL, every
# other lesson's from the reference), runs it, and prints one scoreboard
# line; then, for each lesson that failed, the details of its first failing
# test. The last line is always "N passed, M failed".
#
# Environment: IMPL (exercises|solutions|a directory), SANITIZE (|thread|address),
# LESSONS (lesson directory names), VERBOSE=1 (every failure in full),
# FORMAT=tap (keep the TAP files and say where), FORMAT=junit (JUnit XML
# beside them, one file per test program), MAKE,
# GRADE_RUNNER (a command to run the tests under, e.g. valgrind),
# GRADE_QUIET=1 (scoreboard and closing line only), GRADE_ONLY=test_name
# (that test alone, in the test programs that have it: make mutants).
set -u
IMPL=${IMPL:-exercises}
SANITIZE=${SANITIZE:-}
MAKE=${MAKE:-make}
VERBOSE=${VERBOSE:-}
LESSONS=${LESSONS:-}
variant=${SANITIZE:-plain}
tag=$(printf '%s' "$IMPL" | tr / _)
results="build/results/$variant/$tag"
mkdir -p "$results"

# Deadlines per test, in seconds: sanitizers and valgrind slow code down.
case "$variant" in
plain) per_test=5 ;;
address) per_test=20 ;;
thread) per_test=30 ;;
esac
HARNESS_TIMEOUT=${GRADE_TIMEOUT:-$per_test}
export HARNESS_TIMEOUT
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
export ASAN_OPTIONS="detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1"

runner=${GRADE_RUNNER:-}
# Kernels with many random mmap bits break ThreadSanitizer's memory layout
# ("unexpected memory mapping"); running without address randomisation fixes it.
if [ "$variant" = thread ] && [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)" -gt 28 ]; then
	runner="setarch $(uname -m) -R $runner"
fi

total_pass=0
total_fail=0
board=""
details=""
first_untouched=""

lesson_title() { printf '%s' "$1" | sed 's/^\([0-9][0-9]\)-/\1 /'; }

# A lesson's test programs ("suites"): its own tests, and for lesson 10
# lessons 01 and 02's tests again, run against its spinning channel
# (10-fastchan-01, 10-fastchan-02). The Makefile knows which.
suite_title() { # suite -> what the scoreboard calls it
	case "$1" in
	*-fastchan-*) printf '%s' "${1%%-*} fast ch. ${1##*-}" ;;
	*) lesson_title "$1" ;;
	esac
}
suite_tests() { # suite -> how many tests its sources declare
	case "$1" in
	*-fastchan-*) dir=$(ls -d tests/"${1##*-}"-* | head -n 1) ;;
	*) dir=tests/$1 ;;
	esac
	grep -c 'HTEST(' "$dir"/*.c 2>/dev/null | awk -F: '{s += $NF} END {print s + 0}'
}

junit() { # suite, its TAP on stdin: with FORMAT=junit, $results/<suite>.xml
	[ "${FORMAT:-}" = junit ] && awk -v suite="$1" -f src/tools/junit.awk >"$results/$1.xml"
}

grade_suite() { # suite: run it, add a row to the board and its failures to the details
	s=$1
	tap="$results/$s.tap"
	bin="build/$variant/$tag/tests/$s"
	n=$("$bin" --list | wc -l)
	only=""
	if [ -n "${GRADE_ONLY:-}" ]; then
		# One test: only the programs that have it run, and only it.
		"$bin" --list | grep -qx "$GRADE_ONLY" || return
		only="--only $GRADE_ONLY" n=1
	fi
	outer=$((n * (HARNESS_TIMEOUT + 5) + 30))
	timeout -k 5 "$outer" $runner "./$bin" $only >"$tap" 2>"$results/$s.stderr"
	pass=$(grep -c '^ok ' "$tap")
	fail=$(grep -c '^not ok ' "$tap")
	ran=$((pass + fail))
	if [ "$ran" -lt "$n" ]; then
		# The runner itself died or was stopped: count what did not run.
		fail=$((n - pass))
		echo "not ok - the test runner stopped early (see $results/$s.stderr)" >>"$tap"
	fi
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	junit "$s" <"$tap"
	notimpl=$(grep -c '^not ok .* # NOTIMPL$' "$tap")
	if [ "$fail" -eq 0 ]; then
		row="passed    $pass/$n"
	elif [ "$pass" -eq 0 ] && [ "$notimpl" -eq "$n" ]; then
		row="not started  (0/$n: every test says NOT IMPLEMENTED)"
		[ -n "$first_untouched" ] || first_untouched=$s
	elif [ "$s" != "${s%-fastchan-*}" ] && [ $((pass + notimpl)) -eq "$n" ]; then
		# Another lesson's tests: those that never send or receive pass
		# against an untouched front; the rest say NOT IMPLEMENTED.
		row="not started  ($notimpl/$n NOT IMPLEMENTED; $pass never reach the front)"
		notimpl=$n # no details, as for a lesson not started
		pass=0
	else
		kinds=$(grep '^not ok ' "$tap" | sed -n 's/.* # \([A-Z]*\)$/\1/p' | sort | uniq -c |
			awk '{printf "%s%s %s", sep, $1, $2; sep = ", "}')
		row="$pass/$n passed  ($kinds)"
	fi
	board="$board$(printf '  %-14s %s' "$(suite_title "$s")" "$row")
"
	[ "$fail" -eq 0 ] && return
	# Details: the first failing test of the lesson (all of them with VERBOSE=1),
	# except for lessons not started yet, where one pointer is enough.
	if [ "$pass" -eq 0 ] && [ "$notimpl" -eq "$n" ] && [ -z "$VERBOSE" ]; then
		return
	fi
	block=$(awk -v all="$VERBOSE" '
		/^not ok / { if (shown && all != "1") exit; shown = 1; show = 1
			sub(/^not ok [0-9]+ - /, ""); print "  " $0; next }
		/^ok / { show = 0; next }
		show && /^  # / { sub(/^  # /, "    "); print }
	' "$tap")
	rerun=""
	[ "$s" != "${s%-fastchan-*}" ] &&
		rerun="
    (lesson ${s##*-}'s test, its \"see:\" is that lesson's contract; the code under test is your
    spinning front: lessons/10-scaling/README.md#a-front-not-a-copy)"
	details="$details
$(suite_title "$s"): first failing test
$block$rerun
    hint: make hint LESSON=${s%%-*}
"
}

for l in $LESSONS; do
	log="$results/$l.build.log"
	if ! $MAKE -s --no-print-directory testbin LESSON="$l" IMPL="$IMPL" SANITIZE="$SANITIZE" >"$log" 2>&1; then
		board="$board$(printf '  %-14s does not compile' "$(lesson_title "$l")")
"
		details="$details
$(lesson_title "$l"): the build failed; the compiler said:
$(grep -v '^make' "$log" | head -n "${VERBOSE:+400}${VERBOSE:-40}")
"
		for s in $($MAKE -s --no-print-directory suites LESSON="$l"); do
			total_fail=$((total_fail + $(suite_tests "$s")))
			{ echo "not ok 1 - the build # COMPILE"; grep -v '^make' "$log" | head -n 400 | sed 's/^/  # /'; } |
				junit "$s"
		done
		continue
	fi
	for s in $($MAKE -s --no-print-directory suites LESSON="$l"); do
		grade_suite "$s"
	done
done

if [ -z "${GRADE_QUIET:-}" ]; then
	echo "Grading $IMPL ($variant build)"
	echo
	printf '%s' "$board"
	if [ -n "$first_untouched" ]; then
		echo
		echo "$(lesson_title "$first_untouched") is where to start: read lessons/$first_untouched/README.md, then"
		echo "  write exercises/$first_untouched/ and run 'make test LESSON=${first_untouched%%-*}'."
	fi
	[ -n "$details" ] && printf '%s' "$details"
	[ "${FORMAT:-}" = tap ] && { echo; echo "TAP results: $results/*.tap"; }
	[ "${FORMAT:-}" = junit ] && { echo; echo "JUnit XML: $results/*.xml"; }
	echo
else
	printf '%s' "$board"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
