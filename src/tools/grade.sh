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
# GRADE_QUIET=1 (scoreboard and closing line only),
# SEED=n (run the tests perturbed with seed n: a replay, see below),
# PERTURB=N (N perturbed rounds of each concurrency lesson that passed),
# GRADE_FOLLOWUPS=0 (no follow-up runs unless PERTURB asks for rounds),
# GRADE_ONLY=test_name (that test alone, in the test programs that have it:
# make mutants).
#
# A plain run shows only the mistakes that happened to do harm in this
# run. So once a lesson passes its plain run, the default grade (a plain
# `make test`) runs it again, each a row of the scoreboard: perturbed if it
# is a concurrency lesson (tests/harness/interpose.c: random yields and
# short sleeps around every lock, unlock and signal, decided by a seed, so
# that threads meet in orders the plain run did not produce: a few rounds,
# at most about PERTURB_SECONDS); under ThreadSanitizer, which sees
# unlocked accesses that no schedule makes visible; and under
# AddressSanitizer and UBSan, which see a leak or an overflow that did not
# crash. A test that fails in any of them counts as failed. PERTURB=N asks
# for N rounds with no time limit. A failed round prints its seed and the
# command that replays it. The seed replays the same perturbation decisions
# in each thread, not the operating system's own scheduling, so a replay
# fails again often but not always.
set -u
# The lessons whose tests race threads on locks and condition variables:
# the ones the perturbation (random yields and sleeps around each pthread
# call) can shake. Lesson 14 takes no lock, so it has nothing to perturb.
CONCURRENT_LESSONS="01 02 06 09 11 12 13"
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
# The deadline per test of a build (GRADE_TIMEOUT overrides it).
deadline_of() { # variant
	case "$1" in
	plain) echo "${GRADE_TIMEOUT:-5}" ;;
	address) echo "${GRADE_TIMEOUT:-20}" ;;
	thread) echo "${GRADE_TIMEOUT:-30}" ;;
	esac
}
HARNESS_TIMEOUT=$(deadline_of "$variant")
export HARNESS_TIMEOUT
# The report of a hung test (tests/harness/hung.py) shows the learner's files.
export HARNESS_IMPL="$IMPL"
# A race report names both accesses only while the earlier one is still in
# its thread's history: with the default size, a thread that ran on for a
# while (a busy machine) is reported as "[failed to restore the stack]".
# history_size=4 keeps four times as much (about 12 MB more for lesson
# 01's tests); the report then names the learner's function on both sides.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 allocator_may_return_null=1 history_size=4"
export ASAN_OPTIONS="detect_leaks=1 allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1"

runner=${GRADE_RUNNER:-}
SEED=${SEED:-}
PERTURB=${PERTURB:-}
PERTURB_SECONDS=${PERTURB_SECONDS:-15}
[ -n "$SEED" ] && export HARNESS_SEED="$SEED"
# Follow-ups (perturbed rounds, ThreadSanitizer) by default only for the
# learner's plain grade: make check asks for each build itself.
if [ -z "${GRADE_FOLLOWUPS:-}" ]; then
	GRADE_FOLLOWUPS=1
	[ -n "$SANITIZE$runner$SEED" ] && GRADE_FOLLOWUPS=0
fi
# Kernels with many random mmap bits break ThreadSanitizer's memory layout
# ("unexpected memory mapping"); running without address randomisation fixes
# it. One prefix for every ThreadSanitizer run, the follow-ups' included.
tsan_runner=""
[ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)" -gt 28 ] && tsan_runner="setarch $(uname -m) -R"
[ "$variant" = thread ] && runner="$tsan_runner${tsan_runner:+ }$runner"

total_pass=0
total_fail=0
board=""
details=""
first_untouched=""

lesson_title() { printf '%s' "$1" | sed 's/^\([0-9][0-9]\)-/\1 /'; }

suite_title() { lesson_title "$1"; } # a lesson's test program is named for it
suite_tests() { # suite -> how many tests its sources declare
	grep -c 'HTEST(' tests/"$1"/*.c 2>/dev/null | awk -F: '{s += $NF} END {print s + 0}'
}

run_suite() { # suite variant tap [runner]: run a suite's program; sets n, pass, fail
	bin="build/$2/$tag/tests/$1"
	n=$("$bin" --list | wc -l)
	only=""
	if [ -n "${GRADE_ONLY:-}" ]; then
		# One test: only the programs that have it run (1: this one does not).
		"$bin" --list | grep -qx "$GRADE_ONLY" || { n=0 pass=0 fail=0 && : >"$3" && return 1; }
		only="--only $GRADE_ONLY" n=1
	fi
	outer=$((n * (HARNESS_TIMEOUT + 5) + 30))
	timeout -k 5 "$outer" ${4:-} "./$bin" $only >"$3" 2>"${3%.tap}.stderr"
	pass=$(grep -c '^ok ' "$3")
	fail=$(grep -c '^not ok ' "$3")
	if [ $((pass + fail)) -lt "$n" ]; then
		# The runner itself died or was stopped: count what did not run.
		fail=$((n - pass))
		echo "not ok - the test runner stopped early (see ${3%.tap}.stderr)" >>"$3"
	fi
}

verdicts() { # tap...: "2 FAIL, 1 HUNG"
	cat "$@" | grep '^not ok ' | sed -n 's/.* # \([A-Z]*\)$/\1/p' | sort | uniq -c |
		awk '{printf "%s%s %s", sep, $1, $2; sep = ", "}'
}

# Without VERBOSE, the other failing tests are named after the first one's
# details, so that a learner knows what else failed (and how, FAIL or HUNG).
first_failure() { # tap: the first failing test's details (all of them with VERBOSE=1)
	awk -v all="$VERBOSE" '
		/^not ok / { sub(/^not ok [0-9]+ - /, "")
			if (shown && all != "1") { others = others sep $0; sep = ", "; show = 0; next }
			shown = 1; show = 1; print "  " $0; next }
		/^ok / { show = 0; next }
		show && /^  # / { sub(/^  # /, "    "); print }
		END { if (others != "") print "  also failing: " others "  (VERBOSE=1 shows each)" }
	' "$1"
}

junit() { # suite, its TAP on stdin: with FORMAT=junit, $results/<suite>.xml
	[ "${FORMAT:-}" = junit ] && awk -v suite="$1" -f src/tools/junit.awk >"$results/$1.xml"
}

grade_suite() { # suite: run it, add a row to the board and its failures to the details
	s=$1
	tap="$results/$s.tap"
	run_suite "$s" "$variant" "$tap" "$runner" || return
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	junit "$s" <"$tap"
	notimpl=$(grep -c '^not ok .* # NOTIMPL$' "$tap")
	if [ "$fail" -eq 0 ]; then
		row="passed    $pass/$n"
	elif [ "$pass" -eq 0 ] && [ "$notimpl" -eq "$n" ]; then
		row="not started  (0/$n: every test says NOT IMPLEMENTED)"
		[ -n "$first_untouched" ] || first_untouched=$s
	else
		row="$pass/$n passed  ($(verdicts "$tap"))"
	fi
	board="$board$(printf '  %-14s %s' "$(suite_title "$s")" "$row")
"
	[ "$fail" -eq 0 ] && return
	# Details: the first failing test of the lesson (all of them with VERBOSE=1),
	# except for lessons not started yet, where one pointer is enough.
	if [ "$pass" -eq 0 ] && [ "$notimpl" -eq "$n" ] && [ -z "$VERBOSE" ]; then
		return
	fi
	block=$(first_failure "$tap")
	# A crash in a plain build says only which signal: AddressSanitizer's
	# build names the bad access, the line that made it and where the
	# memory came from.
	crashed=""
	[ -z "$SANITIZE" ] && grep -q '^not ok .* # CRASH$' "$tap" &&
		crashed="    rerun: make test LESSON=${s%%-*} SANITIZE=address   (a crash: AddressSanitizer shows the bad access and its line)
"
	details="$details
$(suite_title "$s"): first failing test
$block
$crashed    hint: make hint LESSON=${s%%-*}
"
}

# ---- follow-ups of a concurrency lesson that passed ----------------------

board_row() { # label text
	board="$board$(printf '  %-14s %s' "$1" "$2")
"
}

# A test that failed in a follow-up (a line "suite:test" in $followup_failed)
# moves from passed to failed, once however many follow-ups it failed.
count_followup_failures() {
	k=$(sort -u "$followup_failed" | grep -c .)
	total_pass=$((total_pass - k))
	total_fail=$((total_fail + k))
}

failed_tests() { # suite tap: "suite:test" for each failed test
	sed -n 's/^not ok [0-9]* - \([^ ]*\) # .*/\1/p' "$2" | sed "s/^/$1:/"
}

perturbed_round() { # lesson seed suites...: one round; exits 1 if a test failed
	l=$1 seed=$2
	shift 2
	status=0
	for s in "$@"; do
		HARNESS_SEED=$seed run_suite "$s" "$variant" \
			"$results/perturbed/$s.$seed.tap" "$runner"
		[ "$fail" -eq 0 ] || status=1
	done
	return $status
}

new_seed() { od -An -N4 -tu4 /dev/urandom | tr -d ' '; }

# Rounds run as many at a time as there are processors; PERTURB=N runs N,
# the default runs 8 or stops after PERTURB_SECONDS, whichever comes first.
perturb_lesson() { # lesson suites
	l=$1 suites=$2
	rounds=${PERTURB:-8} ran=0 bad="" t0=$(date +%s)
	jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
	mkdir -p "$results/perturbed"
	while [ "$ran" -lt "$rounds" ] && [ -z "$bad" ]; do
		seeds=""
		while [ "$ran" -lt "$rounds" ] && [ $(($(echo $seeds | wc -w))) -lt "$jobs" ]; do
			seeds="$seeds ${SEED:-$(new_seed)}"
			ran=$((ran + 1))
		done
		for seed in $seeds; do perturbed_round "$l" "$seed" $suites & done
		wait
		for seed in $seeds; do
			[ -z "$bad" ] || break
			for s in $suites; do
				tap="$results/perturbed/$s.$seed.tap"
				grep -q '^not ok ' "$tap" || continue
				bad=$seed
				failed_tests "$s" "$tap" >>"$followup_failed"
				[ -n "$first_bad_tap" ] || first_bad_tap=$tap
			done
		done
		[ -z "$PERTURB" ] && [ $(($(date +%s) - t0)) -ge "$PERTURB_SECONDS" ] && break
	done
	secs=$(($(date +%s) - t0))
	if [ -z "$bad" ]; then
		board_row "  perturbed" "passed    $ran round(s), ${secs}s"
		# Only this lesson's rounds: another lesson's failing one stays.
		for s in $suites; do rm -f "$results/perturbed/$s".*.tap; done
		return
	fi
	board_row "  perturbed" "FAILED with seed $bad ($(sort -u "$followup_failed" | grep -c .) test(s))"
	details="$details
$(lesson_title "$l"), perturbed with seed $bad: first failing test
$(first_failure "$first_bad_tap")
    replay: ${HARNESS_SCALE:+HARNESS_SCALE=$HARNESS_SCALE }make test LESSON=${l%%-*} SEED=$bad   (the same yields and sleeps; the
    scheduler may still order threads differently, so run it a few times)
    hint: make hint LESSON=${l%%-*}
"
}

sanitized_lesson() { # lesson suites san label: the lesson again in a sanitizer's build
	l=$1 suites=$2 san=$3 label=$4
	log="$results/$l.$san.build.log"
	if ! $MAKE -s --no-print-directory testbin LESSON="$l" IMPL="$IMPL" SANITIZE="$san" >"$log" 2>&1; then
		board_row "  $label" "does not build (see $log)"
		return
	fi
	sresults="build/results/$san/$tag"
	mkdir -p "$sresults"
	spass=0 sn=0 bad_tap=""
	srunner=""
	[ "$san" = thread ] && srunner=$tsan_runner
	for s in $suites; do
		HARNESS_TIMEOUT=$(deadline_of "$san") run_suite "$s" "$san" "$sresults/$s.tap" "$srunner"
		spass=$((spass + pass)) sn=$((sn + n))
		if [ "$fail" -gt 0 ]; then
			failed_tests "$s" "$sresults/$s.tap" >>"$followup_failed"
			[ -n "$bad_tap" ] || bad_tap="$sresults/$s.tap"
		fi
	done
	if [ -z "$bad_tap" ]; then
		board_row "  $label" "passed    $spass/$sn"
		return
	fi
	board_row "  $label" "$spass/$sn passed  ($(verdicts $(for s in $suites; do echo "$sresults/$s.tap"; done)))"
	details="$details
$(lesson_title "$l") under $label: first failing test
$(first_failure "$bad_tap")
    rerun: make test LESSON=${l%%-*} SANITIZE=$san
    hint: make hint LESSON=${l%%-*}
"
}

# Every lesson that passed is graded again: perturbed if it is a
# concurrency lesson (an order the plain run's schedule did not produce),
# under ThreadSanitizer (a race that did no visible harm) and under
# AddressSanitizer and UBSan (a leak, an overflow or undefined behaviour
# that happened not to crash). Every lesson's tests run threads.
followups() { # lesson suites
	: >"$followup_failed"
	first_bad_tap=""
	case " $CONCURRENT_LESSONS " in
	*" ${1%%-*} "*) [ -n "$PERTURB" ] || [ "$GRADE_FOLLOWUPS" = 1 ] && perturb_lesson "$1" "$2" ;;
	*) [ -n "$PERTURB" ] && board_row "  perturbed" "not run: only the concurrency lessons are \
perturbed ($CONCURRENT_LESSONS), whose own code locks and waits" ;;
	esac
	if [ "$GRADE_FOLLOWUPS" = 1 ]; then
		sanitized_lesson "$1" "$2" thread TSan
		sanitized_lesson "$1" "$2" address "ASan+UBSan"
	fi
	count_followup_failures
}

followup_failed="$results/followup-failed"

for l in $LESSONS; do
	log="$results/$l.build.log"
	if ! $MAKE -s --no-print-directory testbin LESSON="$l" IMPL="$IMPL" SANITIZE="$SANITIZE" >"$log" 2>&1; then
		board="$board$(printf '  %-14s does not compile' "$(lesson_title "$l")")
"
		details="$details
$(lesson_title "$l"): the build failed; the compiler said:
$(grep -v '^make' "$log" | head -n "${VERBOSE:+400}${VERBOSE:-40}")
"
		# A lesson's test program is named for it.
		total_fail=$((total_fail + $(suite_tests "$l")))
		{ echo "not ok 1 - the build # COMPILE"; grep -v '^make' "$log" | head -n 400 | sed 's/^/  # /'; } |
			junit "$l"
		continue
	fi
	failed_before=$total_fail
	grade_suite "$l"
	[ "$total_fail" -eq "$failed_before" ] && followups "$l" "$l"
done

if [ -z "${GRADE_QUIET:-}" ]; then
	echo "Grading $IMPL ($variant build${SEED:+, perturbed with seed $SEED})"
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
